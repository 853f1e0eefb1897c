namespace Proteus;

/// <summary>How an <see cref="AlphaSchedule"/> picks α when no explicit α is set.</summary>
public enum AlphaMode
{
    /// <summary>The ramp of <see cref="AlphaRamp"/> (with hysteresis and latency control when configured).</summary>
    Auto = 0,

    /// <summary>α = 0: exact dense causal attention.</summary>
    Dense = 1,

    /// <summary>α = 1: the constant-budget shortlist.</summary>
    Shortlist = 2,
}

/// <summary>What the latency controller of an <see cref="AlphaSchedule"/> moves.</summary>
public enum LatencyTarget
{
    /// <summary>An offset added to the automatic α: a slow run raises α (sparser, faster).</summary>
    Alpha = 0,

    /// <summary>The runtime scale of the shortlist target L_t (<see cref="FluxBudget.Compute(long, double, double)"/>): a slow run shrinks it.</summary>
    BudgetScale = 1,
}

/// <summary>
/// The configuration of an <see cref="AlphaSchedule"/> (docs/flux-attention.md §4). Ranges are checked when a value is set
/// and relations between values when the schedule is constructed, each with an exception naming the
/// field. Nothing configured is ever replaced by a default; optional parts are off until configured.
/// </summary>
public sealed record AlphaScheduleOptions
{
    private readonly AlphaMode _mode;
    private readonly long? _seqLow;
    private readonly long _switchContext = AlphaRamp.DefaultSwitchContext;
    private readonly double _initialBudgetScale = 1;

    /// <summary>The mode the schedule starts in; <see cref="AlphaMode.Auto"/> by default. <see cref="AlphaSchedule.Mode"/> changes it later.</summary>
    public AlphaMode Mode
    {
        get => _mode;
        init => _mode = OptionChecks.Defined(value, nameof(Mode));
    }

    /// <summary>
    /// seq_low ≥ 0, the length up to which automatic α is 0. Null (the default) derives it per call as
    /// max(64, D) from the head dim given to <see cref="AlphaSchedule.Evaluate"/>.
    /// </summary>
    public long? SeqLow
    {
        get => _seqLow;
        init => _seqLow = OptionChecks.AtLeast(value, 0, nameof(SeqLow));
    }

    /// <summary>switch_ctx ≥ 1, the length from which automatic α is 1; 20000 by default. Must exceed seq_low.</summary>
    public long SwitchContext
    {
        get => _switchContext;
        init => _switchContext = OptionChecks.AtLeast(value, 1, nameof(SwitchContext));
    }

    /// <summary>
    /// Hysteresis, off by default: once automatic α reaches 0.95 it stays ≥ 0.95 while T ≥ 0.75·switch_ctx,
    /// so a workload hovering around switch_ctx does not flip between budgets.
    /// </summary>
    public bool Hysteresis { get; init; }

    /// <summary>The latency controller; null (the default) for none.</summary>
    public LatencyControllerOptions? LatencyController { get; init; }

    /// <summary>
    /// The runtime scale s of the shortlist target that Auto decisions start with, finite and &gt; 0; 1 by
    /// default (the original's <c>attn_linear_L_scale</c>). A budget-scale latency controller moves it from
    /// there and it must then lie in [MinBudgetScale, MaxBudgetScale]; explicit, Dense and Shortlist
    /// decisions use 1.
    /// </summary>
    public double InitialBudgetScale
    {
        get => _initialBudgetScale;
        init => _initialBudgetScale = OptionChecks.Positive(value, nameof(InitialBudgetScale));
    }
}

/// <summary>
/// The latency controller of an <see cref="AlphaSchedule"/>: from each reported run time it moves α (an
/// offset on the automatic ramp) or the budget scale toward a target latency. The update rule is
/// deterministic and bounded (see <see cref="AlphaSchedule.ReportLatency"/>).
/// </summary>
public sealed record LatencyControllerOptions
{
    private readonly TimeSpan _targetLatency;
    private readonly LatencyTarget _moves;
    private readonly double _gain = 0.5;
    private readonly double _tolerance = 0.05;
    private readonly double _maxAlphaStep = 0.05;
    private readonly double _minBudgetScale = 0.25;
    private readonly double _maxBudgetScale = 4;

    /// <summary>The run time to steer toward; &gt; 0.</summary>
    public required TimeSpan TargetLatency
    {
        get => _targetLatency;
        init
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(TargetLatency), value, "TargetLatency must be > 0.");
            }
            _targetLatency = value;
        }
    }

    /// <summary>What the controller moves; <see cref="LatencyTarget.Alpha"/> by default.</summary>
    public LatencyTarget Moves
    {
        get => _moves;
        init => _moves = OptionChecks.Defined(value, nameof(Moves));
    }

    /// <summary>How strongly one report moves the controlled value, in (0, 1]; 0.5 by default.</summary>
    public double Gain
    {
        get => _gain;
        init => _gain = OptionChecks.PositiveAtMost(value, 1, nameof(Gain));
    }

    /// <summary>The dead band: a run within this relative distance of the target, in [0, 1), changes nothing; 0.05 by default.</summary>
    public double Tolerance
    {
        get => _tolerance;
        init
        {
            if (!(double.IsFinite(value) && value >= 0 && value < 1))
            {
                throw new ArgumentOutOfRangeException(nameof(Tolerance), value, "Tolerance must be a finite number in [0, 1).");
            }
            _tolerance = value;
        }
    }

    /// <summary>The most one report moves the α offset, in (0, 1]; 0.05 by default. Read when <see cref="Moves"/> is <see cref="LatencyTarget.Alpha"/>.</summary>
    public double MaxAlphaStep
    {
        get => _maxAlphaStep;
        init => _maxAlphaStep = OptionChecks.PositiveAtMost(value, 1, nameof(MaxAlphaStep));
    }

    /// <summary>The smallest budget scale, in (0, 1]; 0.25 by default. Read when <see cref="Moves"/> is <see cref="LatencyTarget.BudgetScale"/>.</summary>
    public double MinBudgetScale
    {
        get => _minBudgetScale;
        init => _minBudgetScale = OptionChecks.PositiveAtMost(value, 1, nameof(MinBudgetScale));
    }

    /// <summary>The largest budget scale, finite and ≥ 1; 4 by default. Read when <see cref="Moves"/> is <see cref="LatencyTarget.BudgetScale"/>.</summary>
    public double MaxBudgetScale
    {
        get => _maxBudgetScale;
        init
        {
            if (!(double.IsFinite(value) && value >= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(MaxBudgetScale), value, "MaxBudgetScale must be a finite number ≥ 1.");
            }
            _maxBudgetScale = value;
        }
    }
}
