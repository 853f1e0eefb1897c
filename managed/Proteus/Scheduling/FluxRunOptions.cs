namespace Proteus;

/// <summary>
/// Per-call choices of a derived flux attention run (<see cref="FluxAttention.Run{T}(FluxInputs{T}, FluxRunOptions?)"/>).
/// Everything left null comes from the attention's <see cref="AlphaSchedule"/> and <see cref="FluxBudget"/>.
/// </summary>
public sealed record FluxRunOptions
{
    private readonly double? _alpha;
    private readonly float? _scale;

    /// <summary>An explicit α ∈ [0, 1] for this call only; it beats the schedule (whose state the call then leaves untouched). Null to ask the schedule.</summary>
    public double? Alpha
    {
        get => _alpha;
        init => _alpha = OptionChecks.InRange(value, 0, 1, nameof(Alpha));
    }

    /// <summary>The softmax scale, finite and &gt; 0; null for 1/sqrt(D).</summary>
    public float? Scale
    {
        get => _scale;
        init => _scale = OptionChecks.SoftmaxScale(value, nameof(Scale));
    }

    /// <summary>The GPU launch configuration; null for the library's heuristic.</summary>
    public LaunchConfig? Launch { get; init; }
}

/// <summary>
/// What one <see cref="FluxAttention"/> call did (<see cref="FluxAttention.LastRun"/>): for a derived run
/// the α decision and the budgets it led to, for every run the parameters that were sent to the library,
/// and what the library reported it ran: the kernel, the launch configuration resolved in every field,
/// the query offset and the workspace.
/// </summary>
public sealed record FluxRunInfo
{
    internal FluxRunInfo(
        Backend backend, AttentionShape shape, long queryLength, FluxParameters parameters, LaunchConfig? launch,
        in Interop.ProteusFluxRunInfo ran, AlphaDecision? decision, ShortlistBudget? budget, TimeSpan? elapsed)
    {
        Backend = backend;
        Shape = shape;
        QueryLength = queryLength;
        Parameters = parameters;
        Launch = launch;
        Kernel = (FluxKernel)ran.Kernel;
        ResolvedLaunch = LaunchConfig.FromNative(ran.Launch);
        QueryOffset = ran.QueryOffset;
        WorkspaceBytes = ran.WorkspaceBytes;
        Decision = decision;
        Budget = budget;
        Elapsed = elapsed;
    }

    /// <summary>The backend that ran the call.</summary>
    public Backend Backend { get; }

    /// <summary>B, H, D of the query and T, the number of keys (the full sequence a query slice belongs to).</summary>
    public AttentionShape Shape { get; }

    /// <summary>Tq, the query rows of the call (T unless the queries are a slice).</summary>
    public long QueryLength { get; }

    /// <summary>The query offset p0 the call used: query row r was position p0 + r.</summary>
    public long QueryOffset { get; }

    /// <summary>The parameters the library received; running them explicitly reproduces the call.</summary>
    public FluxParameters Parameters { get; }

    /// <summary>The launch configuration passed (null: the library's heuristic).</summary>
    public LaunchConfig? Launch { get; }

    /// <summary>The kernel the library ran, as it reported it.</summary>
    public FluxKernel Kernel { get; }

    /// <summary>The launch configuration that ran, every field resolved (0 in fields the kernel does not have).</summary>
    public LaunchConfig ResolvedLaunch { get; }

    /// <summary>Bytes of stream-ordered workspace the call took (released on the stream when it is done).</summary>
    public ulong WorkspaceBytes { get; }

    /// <summary>The α decision of a derived run (its α and the rule that chose it); null for an explicit run.</summary>
    public AlphaDecision? Decision { get; }

    /// <summary>The budgets of a derived run (L, W, A, K and the budget policy); null for an explicit run.</summary>
    public ShortlistBudget? Budget { get; }

    /// <summary>
    /// Device time of the call as the library measured it (events on the stream on a GPU, a steady clock on
    /// the CPU; the median for <see cref="FluxAttention.Time{T}"/>); null when the call was not timed (see
    /// <see cref="FluxAttention.MeasureTime"/>).
    /// </summary>
    public TimeSpan? Elapsed { get; }

    /// <summary>
    /// Where the launch came from: the caller, the tuning cache, the tuner, or the library's heuristic
    /// (<see cref="FluxAttention.Tuning"/>); a tuned launch that ran is also in <see cref="Launch"/>.
    /// </summary>
    public LaunchSource LaunchSource { get; internal init; }

    /// <summary>α of a derived run; null for an explicit run.</summary>
    public double? Alpha => Decision?.Alpha;

    /// <summary>The candidate policy of the call.</summary>
    public CandidatePolicy Policy => Parameters.Policy;

    /// <summary>
    /// One line for a log: α and what chose it (or "explicit"), the budgets L, W, A (with the anchor
    /// stride S) and K, the candidate policy (and the budget policy of a derived run), the shape, the
    /// backend, the kernel and the time, e.g.
    /// <c>α 0.2022 (Ramp), L 1024: W 341, A 171 (S 12), K 512, policy Aligned (Continuous), T 4096 Tq 4096, backend Cpu, kernel CpuReference, 41.2 ms</c>.
    /// </summary>
    /// <returns>The summary.</returns>
    public override string ToString()
    {
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        string alpha = Decision is { } decision
            ? string.Create(culture, $"α {decision.Alpha:0.####} ({decision.Source})")
            : "α explicit";
        string length = Budget is { } budget ? string.Create(culture, $"L {budget.Length}") : "L –";
        string policy = Budget is { } derived ? $"{Policy} ({derived.Policy})" : $"{Policy}";
        // Dense parameters carry a window past any T.
        string window = Parameters.Window >= Shape.SeqLen ? "≥ T" : Parameters.Window.ToString(culture);
        string time = Elapsed is { } elapsed
            ? string.Create(culture, $"{elapsed.TotalMilliseconds:0.###} ms")
            : "ms not measured";
        return string.Create(culture,
            $"{alpha}, {length}: W {window}, A {Parameters.AnchorCount} (S {Parameters.AnchorStride}), K {Parameters.DnaCount}, " +
            $"policy {policy}, T {Shape.SeqLen} Tq {QueryLength}, backend {Backend}, kernel {Kernel}, {time}");
    }
}
