namespace Proteus;

/// <summary>Which rule decided an α.</summary>
public enum AlphaSource
{
    /// <summary>The automatic ramp, with hysteresis and latency control when configured.</summary>
    Auto = 0,

    /// <summary><see cref="AlphaMode.Dense"/>: α = 0.</summary>
    Dense = 1,

    /// <summary><see cref="AlphaMode.Shortlist"/>: α = 1.</summary>
    Shortlist = 2,

    /// <summary>An explicit α (<see cref="AlphaSchedule.SetFluxAlpha"/> or a per-call <see cref="FluxRunOptions.Alpha"/>), which nothing overrides.</summary>
    Override = 3,
}

/// <summary>One α decision and what went into it.</summary>
/// <param name="Alpha">α ∈ [0, 1].</param>
/// <param name="Source">The rule that decided it.</param>
/// <param name="BudgetScale">The runtime scale for the shortlist target L_t: 1 unless a latency controller moves it.</param>
/// <param name="HeldByHysteresis">Whether hysteresis raised α to 0.95 on this decision.</param>
public sealed record AlphaDecision(double Alpha, AlphaSource Source, double BudgetScale, bool HeldByHysteresis)
{
    /// <summary>An explicit α: the value as given, budget scale 1.</summary>
    /// <param name="alpha">α ∈ [0, 1].</param>
    /// <returns>The decision.</returns>
    public static AlphaDecision Explicit(double alpha) =>
        new(OptionChecks.Alpha(alpha, nameof(alpha)), AlphaSource.Override, 1, false);
}

/// <summary>
/// The flux alpha slider (docs/flux-attention.md §4): decides α for each call from the sequence length T.
/// <list type="bullet">
/// <item>An explicit α (<see cref="SetFluxAlpha"/>) is authoritative until <see cref="ClearFluxAlpha"/>: no mode, hysteresis or controller changes it.</item>
/// <item>Otherwise <see cref="Mode"/> decides: <see cref="AlphaMode.Dense"/> gives 0, <see cref="AlphaMode.Shortlist"/> 1, and <see cref="AlphaMode.Auto"/> the ramp.</item>
/// <item>In Auto mode only, and in this order: the latency controller's α offset is added to the ramp (clamped to [0, 1]); then hysteresis raises α to 0.95 while it holds.</item>
/// </list>
/// Hysteresis and the controller carry state, so <see cref="Evaluate"/> is not a pure function; the
/// schedule is safe to share between threads (its state changes under a lock).
/// </summary>
/// <example>
/// <code>
/// var schedule = new AlphaSchedule(new AlphaScheduleOptions { SeqLow = 64, Hysteresis = true });
/// double alpha = schedule.Evaluate(seqLen: 4096).Alpha;   // 0.2022…
/// schedule.SetFluxAlpha(0.5);                              // from now on α = 0.5, whatever T is
/// </code>
/// </example>
public sealed class AlphaSchedule
{
    /// <summary>The α from which hysteresis latches and below which it holds α: 0.95 (docs/flux-attention.md §4).</summary>
    public const double HysteresisAlpha = 0.95;

    /// <summary>Hysteresis holds while T ≥ this fraction of switch_ctx: 0.75 (docs/flux-attention.md §4).</summary>
    public const double HysteresisReleaseFraction = 0.75;

    private readonly object _gate = new();
    private AlphaMode _mode;
    private double? _override;
    private bool _latched;
    private double _alphaOffset;
    private double _budgetScale;

    /// <summary>Creates a schedule.</summary>
    /// <param name="options">The configuration; null for the defaults (Auto, seq_low = max(64, D), switch_ctx 20000, no hysteresis, no controller).</param>
    /// <exception cref="ArgumentException">SwitchContext ≤ SeqLow, or SeqLow is unset and SwitchContext ≤ 64 (every derived seq_low would be ≥ switch_ctx).</exception>
    public AlphaSchedule(AlphaScheduleOptions? options = null)
    {
        options ??= new AlphaScheduleOptions();
        if (options.SeqLow is { } seqLow)
        {
            Ramp = new AlphaRamp(seqLow, options.SwitchContext);
        }
        else if (options.SwitchContext <= AlphaRamp.MinimumDerivedSeqLow)
        {
            throw new ArgumentException(
                $"SwitchContext ({options.SwitchContext}) must be greater than seq_low, which is max(64, D) when SeqLow is not set.",
                nameof(AlphaScheduleOptions.SwitchContext));
        }
        if (options.LatencyController is { Moves: LatencyTarget.BudgetScale } controller
            && (options.InitialBudgetScale < controller.MinBudgetScale || options.InitialBudgetScale > controller.MaxBudgetScale))
        {
            throw new ArgumentException(
                $"InitialBudgetScale ({options.InitialBudgetScale}) lies outside the controller's [{controller.MinBudgetScale}, {controller.MaxBudgetScale}].",
                nameof(AlphaScheduleOptions.InitialBudgetScale));
        }
        Options = options;
        _mode = options.Mode;
        _budgetScale = options.InitialBudgetScale;
    }

    /// <summary>The configuration.</summary>
    public AlphaScheduleOptions Options { get; }

    /// <summary>The ramp when seq_low is configured; null when it is derived from the head dim at each call.</summary>
    public AlphaRamp? Ramp { get; }

    /// <summary>The mode used while no explicit α is set; starts as <see cref="AlphaScheduleOptions.Mode"/>.</summary>
    public AlphaMode Mode
    {
        get
        {
            lock (_gate)
            {
                return _mode;
            }
        }
        set
        {
            OptionChecks.Defined(value, nameof(Mode));
            lock (_gate)
            {
                _mode = value;
            }
        }
    }

    /// <summary>The explicit α, or null when none is set.</summary>
    public double? FluxAlpha
    {
        get
        {
            lock (_gate)
            {
                return _override;
            }
        }
    }

    /// <summary>The latency controller's current offset on the automatic α (0 without an α controller).</summary>
    public double AlphaOffset
    {
        get
        {
            lock (_gate)
            {
                return _alphaOffset;
            }
        }
    }

    /// <summary>The current budget scale of Auto decisions: <see cref="AlphaScheduleOptions.InitialBudgetScale"/>, as a budget-scale latency controller has moved it.</summary>
    public double BudgetScale
    {
        get
        {
            lock (_gate)
            {
                return _budgetScale;
            }
        }
    }

    /// <summary>Whether hysteresis currently holds α at ≥ 0.95.</summary>
    public bool HysteresisLatched
    {
        get
        {
            lock (_gate)
            {
                return _latched;
            }
        }
    }

    /// <summary>Sets an explicit α, authoritative over every other rule until <see cref="ClearFluxAlpha"/>.</summary>
    /// <param name="alpha">α, finite, in [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is outside [0, 1] or not finite.</exception>
    public void SetFluxAlpha(double alpha)
    {
        OptionChecks.Alpha(alpha, nameof(alpha));
        lock (_gate)
        {
            _override = alpha;
        }
    }

    /// <summary>Removes the explicit α; <see cref="Mode"/> decides again.</summary>
    public void ClearFluxAlpha()
    {
        lock (_gate)
        {
            _override = null;
        }
    }

    /// <summary>Decides α for a call on sequences of length <paramref name="seqLen"/>, updating the hysteresis state in Auto mode.</summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <param name="headDim">D ≥ 1; needed only when <see cref="AlphaScheduleOptions.SeqLow"/> is unset (seq_low = max(64, D)).</param>
    /// <returns>The decision.</returns>
    /// <exception cref="ArgumentException">SeqLow is unset and <paramref name="headDim"/> is null, or max(64, D) ≥ switch_ctx.</exception>
    public AlphaDecision Evaluate(long seqLen, long? headDim = null)
    {
        OptionChecks.AtLeast(seqLen, 1, nameof(seqLen));
        lock (_gate)
        {
            if (_override is { } alpha)
            {
                return new AlphaDecision(alpha, AlphaSource.Override, 1, false);
            }
            switch (_mode)
            {
                case AlphaMode.Dense:
                    return new AlphaDecision(0, AlphaSource.Dense, 1, false);
                case AlphaMode.Shortlist:
                    return new AlphaDecision(1, AlphaSource.Shortlist, 1, false);
            }

            AlphaRamp ramp = Ramp ?? DerivedRamp(headDim);
            double automatic = Math.Clamp(ramp.Evaluate(seqLen) + _alphaOffset, 0, 1);
            bool held = false;
            if (Options.Hysteresis)
            {
                if (seqLen < HysteresisReleaseFraction * ramp.SwitchContext)
                {
                    _latched = false;
                }
                else if (_latched && automatic < HysteresisAlpha)
                {
                    automatic = HysteresisAlpha;
                    held = true;
                }
                _latched |= automatic >= HysteresisAlpha;
            }
            return new AlphaDecision(automatic, AlphaSource.Auto, _budgetScale, held);
        }
    }

    /// <summary>
    /// Feeds the latency controller one measured run time. Ignored without a controller, while an
    /// explicit α is set, or outside Auto mode (those runs do not show the controller's own effect).
    /// With r = measured / target and nothing changing while |r − 1| ≤ Tolerance:
    /// <list type="bullet">
    /// <item>α: offset ← clamp(offset + clamp(Gain·(r − 1), −MaxAlphaStep, MaxAlphaStep), −1, 1);</item>
    /// <item>budget scale: scale ← clamp(scale · r^(−Gain), MinBudgetScale, MaxBudgetScale).</item>
    /// </list>
    /// A slow run (r &gt; 1) raises α or shrinks the budget; a fast one does the opposite. Both updates are
    /// bounded per report and overall, and depend only on the reported times.
    /// </summary>
    /// <param name="elapsed">The measured run time, ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elapsed"/> is negative.</exception>
    public void ReportLatency(TimeSpan elapsed)
    {
        if (elapsed < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(elapsed), elapsed, "A run time cannot be negative.");
        }
        if (Options.LatencyController is not { } controller)
        {
            return;
        }
        lock (_gate)
        {
            if (_override is not null || _mode != AlphaMode.Auto)
            {
                return;
            }
            double ratio = elapsed / controller.TargetLatency;
            if (Math.Abs(ratio - 1) <= controller.Tolerance)
            {
                return;
            }
            if (controller.Moves == LatencyTarget.Alpha)
            {
                double step = Math.Clamp(controller.Gain * (ratio - 1), -controller.MaxAlphaStep, controller.MaxAlphaStep);
                _alphaOffset = Math.Clamp(_alphaOffset + step, -1, 1);
            }
            else
            {
                _budgetScale = Math.Clamp(_budgetScale * Math.Pow(ratio, -controller.Gain), controller.MinBudgetScale, controller.MaxBudgetScale);
            }
        }
    }

    private AlphaRamp DerivedRamp(long? headDim)
    {
        if (headDim is not { } d)
        {
            throw new ArgumentException(
                "SeqLow is not configured, so seq_low = max(64, D) needs the head dim: pass headDim or set AlphaScheduleOptions.SeqLow.",
                nameof(headDim));
        }
        return AlphaRamp.ForHeadDim(d, Options.SwitchContext);
    }
}
