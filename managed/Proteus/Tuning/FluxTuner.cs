using System.Diagnostics;

namespace Proteus.Tuning;

/// <summary>
/// Runs one problem's candidates for <see cref="FluxTuner"/>: the launch configurations offered, their
/// device times and the output they compute. <see cref="DeviceFluxTimer{T}"/> runs them on a device;
/// tests give a fake.
/// </summary>
public interface IFluxTimer
{
    /// <summary>The element type of the problem (it sets the SPEC §9 tolerance of the output check).</summary>
    DType DType { get; }

    /// <summary>The configurations offered for the problem, the heuristic's choice first.</summary>
    IReadOnlyList<LaunchConfig> Candidates { get; }

    /// <summary>Runs the problem with <paramref name="launch"/> (null: the heuristic) and times it.</summary>
    /// <param name="launch">The configuration; null for the library's heuristic.</param>
    /// <param name="options">Warm-up, repeats and cache flush.</param>
    /// <returns>The device time of each timed run, in milliseconds.</returns>
    IReadOnlyList<double> Time(LaunchConfig? launch, FluxTimingOptions options);

    /// <summary>
    /// A sample of whole rows of the output the last <see cref="Time"/> computed, as float32: the same
    /// elements, in the same order, at every call (<see cref="OutputSample"/>), so that one candidate's
    /// sample compares element for element with another's; all of the output when it fits the bound.
    /// </summary>
    /// <param name="maxElements">The bound on the elements read.</param>
    /// <returns>The sampled elements.</returns>
    float[] ReadOutputSample(long maxElements);
}

/// <summary>How <see cref="FluxTuner"/> searches.</summary>
public sealed record FluxTunerOptions
{
    private readonly TimeSpan _budget = TimeSpan.FromSeconds(4);
    private readonly double _minimumGain = 0.02;
    private readonly long _checkElements = OutputSample.DefaultMaxElements;

    /// <summary>
    /// Wall time per problem (4 s by default): once spent, the candidates not yet timed are skipped and
    /// the best so far kept (the heuristic's is always timed first).
    /// </summary>
    public TimeSpan Budget
    {
        get => _budget;
        init => _budget = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(Budget), value, "The budget must be positive.");
    }

    /// <summary>Timing of each candidate (2 warm-up runs, 10 timed, cache flushed by default).</summary>
    public FluxTimingOptions Timing { get; init; } = new();

    /// <summary>
    /// The most output elements the SPEC §9 check compares (<see cref="OutputSample.DefaultMaxElements"/> by
    /// default): whole rows at the start, the end and spread between of every head (<see cref="OutputSample"/>),
    /// so that reading a candidate's output back costs milliseconds however long the sequence.
    /// </summary>
    public long CheckElements
    {
        get => _checkElements;
        init => _checkElements = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(CheckElements), value, "The check needs at least one element.");
    }

    /// <summary>
    /// How much faster than the heuristic a candidate must be to replace it (0.02: 2 % by default), so
    /// that timing noise never trades the heuristic for an equal configuration.
    /// </summary>
    public double MinimumGain
    {
        get => _minimumGain;
        init => _minimumGain = OptionChecks.InRange(value, 0, 1, nameof(MinimumGain));
    }
}

/// <summary>Where the tuner is (<see cref="IProgress{T}"/>): <paramref name="Done"/> of <paramref name="Total"/> candidates looked at.</summary>
/// <param name="Done">Candidates done (timed, skipped as slower, or rejected).</param>
/// <param name="Total">Candidates offered.</param>
/// <param name="Candidate">The candidate just done.</param>
/// <param name="Milliseconds">Its median time, when it was timed in full.</param>
public sealed record TuningProgress(int Done, int Total, LaunchConfig Candidate, double? Milliseconds);

/// <summary>A candidate that ran faster than the best so far but computed another result (SPEC §9), or failed.</summary>
/// <param name="Launch">The candidate.</param>
/// <param name="Reason">Its relative L2 error against the heuristic's output, or the library's error.</param>
public sealed record RejectedCandidate(LaunchConfig Launch, string Reason);

/// <summary>What <see cref="FluxTuner.Tune"/> found for one problem.</summary>
/// <param name="Heuristic">The heuristic's configuration (the first candidate).</param>
/// <param name="HeuristicMs">Its median time.</param>
/// <param name="Chosen">The fastest configuration whose output matches the heuristic's.</param>
/// <param name="ChosenMs">Its median time (the heuristic's when it was already best).</param>
/// <param name="HeuristicBest">Whether no candidate beat the heuristic by <see cref="FluxTunerOptions.MinimumGain"/>.</param>
/// <param name="Candidates">Candidates offered.</param>
/// <param name="Timed">Candidates timed in full.</param>
/// <param name="Rejected">Candidates rejected by the output check or failing.</param>
/// <param name="BudgetSpent">Whether the budget ran out before every candidate was looked at.</param>
public sealed record TuningResult(
    LaunchConfig Heuristic, double HeuristicMs, LaunchConfig Chosen, double ChosenMs, bool HeuristicBest, int Candidates, int Timed,
    IReadOnlyList<RejectedCandidate> Rejected, bool BudgetSpent)
{
    /// <summary>The heuristic's time over the chosen one.</summary>
    public double SpeedUp => ChosenMs > 0 ? HeuristicMs / ChosenMs : 1;

    /// <summary>The cache entry of this result.</summary>
    /// <returns>The tuned launch, dated now.</returns>
    public TunedLaunch ToTunedLaunch() => new(Chosen, ChosenMs, HeuristicMs, DateTimeOffset.UtcNow) { Heuristic = HeuristicBest };
}

/// <summary>
/// The autotuner (SPEC §8), after PyTorch's TunableOp: times the heuristic's configuration, then every
/// other candidate the library offers, on the device (median of several runs after warm-up, the cache
/// flushed before each), and keeps the fastest whose output matches the heuristic's within the SPEC §9
/// tolerance of the dtype (a candidate that would win but differs, or has NaN or Inf, is rejected, never
/// kept). The outputs compared are a bounded sample of whole rows (<see cref="FluxTunerOptions.CheckElements"/>),
/// so the budget goes to timing. A candidate's first timed run (after its first warm-up) decides whether it
/// is timed further: already much slower than the best, it is not; else the rest of its warm-up and timed
/// runs follow, the first counting among them.
/// </summary>
public sealed class FluxTuner
{
    /// <summary>A first run this much slower than the best so far skips the candidate's full timing.</summary>
    private const double PruneRatio = 1.3;

    /// <summary>A tuner with <paramref name="options"/> (null: the defaults).</summary>
    /// <param name="options">Budget, timing and minimum gain.</param>
    public FluxTuner(FluxTunerOptions? options = null)
    {
        Options = options ?? new FluxTunerOptions();
    }

    /// <summary>How the tuner searches.</summary>
    public FluxTunerOptions Options { get; }

    /// <summary>The SPEC §9 tolerance on the relative L2 error for <paramref name="dtype"/> (float32 with tf32 tensor cores).</summary>
    /// <param name="dtype">The element type.</param>
    /// <returns>The largest relative L2 error accepted.</returns>
    public static double Tolerance(DType dtype) => dtype switch
    {
        DType.Float32 => 3e-4,
        DType.Float16 => 2e-3,
        _ => 1e-2,
    };

    /// <summary>
    /// Tunes one problem on a device: the candidates of <paramref name="inputs"/> with <paramref name="parameters"/>
    /// (see <see cref="Tune(IFluxTimer, IProgress{TuningProgress}?, CancellationToken)"/>). The output tensor is overwritten.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="attention">The operation (its device runs the candidates).</param>
    /// <param name="inputs">The tensors, filled with representative data.</param>
    /// <param name="parameters">The candidate policy and budgets.</param>
    /// <param name="progress">Receives a report per candidate; may be null.</param>
    /// <param name="cancellation">Stops the search between runs (<see cref="OperationCanceledException"/>).</param>
    /// <returns>The heuristic's and the chosen configuration with their times.</returns>
    public TuningResult Tune<T>(FluxAttention attention, FluxInputs<T> inputs, FluxParameters parameters,
        IProgress<TuningProgress>? progress = null, CancellationToken cancellation = default)
        where T : unmanaged =>
        Tune(new DeviceFluxTimer<T>(attention, inputs, parameters), progress, cancellation);

    /// <summary>Tunes the problem behind <paramref name="timer"/>.</summary>
    /// <param name="timer">Runs the candidates.</param>
    /// <param name="progress">Receives a report per candidate; may be null.</param>
    /// <param name="cancellation">Stops the search between runs (<see cref="OperationCanceledException"/>).</param>
    /// <returns>The heuristic's and the chosen configuration with their times.</returns>
    /// <exception cref="ProteusException">The heuristic's own run failed.</exception>
    public TuningResult Tune(IFluxTimer timer, IProgress<TuningProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(timer);
        var clock = Stopwatch.StartNew();
        IReadOnlyList<LaunchConfig> candidates = timer.Candidates;
        if (candidates.Count == 0)
        {
            throw new InvalidOperationException("The library offered no launch configuration.");
        }
        LaunchConfig heuristic = candidates[0];
        cancellation.ThrowIfCancellationRequested();
        double heuristicMs = FluxTiming.Median(timer.Time(null, Options.Timing));
        float[] reference = timer.ReadOutputSample(Options.CheckElements);
        progress?.Report(new TuningProgress(1, candidates.Count, heuristic, heuristicMs));

        double tolerance = Tolerance(timer.DType);
        LaunchConfig best = heuristic;
        double bestMs = heuristicMs;
        var rejected = new List<RejectedCandidate>();
        int timed = 1;
        bool budgetSpent = false;
        // The first run decides; the rest of the timing continues it (no second warm-up of a launch just run).
        FluxTimingOptions timing = Options.Timing;
        FluxTimingOptions first = timing with { Warmup = Math.Min(1, timing.Warmup), Repeats = 1 };
        FluxTimingOptions? rest = timing.Repeats > 1 ? timing with { Warmup = timing.Warmup - first.Warmup, Repeats = timing.Repeats - 1 } : null;
        for (int n = 1; n < candidates.Count; n++)
        {
            cancellation.ThrowIfCancellationRequested();
            if (clock.Elapsed >= Options.Budget)
            {
                budgetSpent = true;
                break;
            }
            LaunchConfig candidate = candidates[n];
            double? median = null;
            try
            {
                IReadOnlyList<double> times = timer.Time(candidate, first);
                if (times[0] <= PruneRatio * bestMs)
                {
                    median = FluxTiming.Median(rest is null ? times : [.. times, .. timer.Time(candidate, rest)]);
                    timed++;
                }
            }
            catch (ProteusException e)
            {
                rejected.Add(new RejectedCandidate(candidate, e.Message));
            }
            // Only a candidate that would be kept needs its output checked.
            if (median is { } ms && ms < bestMs && ms < heuristicMs * (1 - Options.MinimumGain))
            {
                double error = RelativeL2(timer.ReadOutputSample(Options.CheckElements), reference);
                if (error <= tolerance)
                {
                    best = candidate;
                    bestMs = ms;
                }
                else
                {
                    rejected.Add(new RejectedCandidate(candidate, double.IsFinite(error)
                        ? $"relative L2 error {error:0.###e+0} against the heuristic's output exceeds {tolerance:0.#e+0}"
                        : "its output has NaN or Inf"));
                }
            }
            progress?.Report(new TuningProgress(n + 1, candidates.Count, candidate, median));
        }
        return new TuningResult(heuristic, heuristicMs, best, bestMs, ReferenceEquals(best, heuristic), candidates.Count, timed, rejected, budgetSpent);
    }

    /// <summary>‖output − reference‖ / ‖reference‖ (‖output‖ when the reference is 0); +∞ when either has NaN or Inf, or the lengths differ.</summary>
    /// <param name="output">The candidate's output.</param>
    /// <param name="reference">The heuristic's output.</param>
    /// <returns>The relative L2 error.</returns>
    public static double RelativeL2(ReadOnlySpan<float> output, ReadOnlySpan<float> reference)
    {
        if (output.Length != reference.Length)
        {
            return double.PositiveInfinity;
        }
        double difference = 0, norm = 0;
        for (int i = 0; i < output.Length; i++)
        {
            if (!float.IsFinite(output[i]) || !float.IsFinite(reference[i]))
            {
                return double.PositiveInfinity;
            }
            double d = (double)output[i] - reference[i];
            difference += d * d;
            norm += (double)reference[i] * reference[i];
        }
        return norm > 0 ? Math.Sqrt(difference / norm) : Math.Sqrt(difference);
    }
}

/// <summary>Runs a problem's candidates on its device for <see cref="FluxTuner"/> (<see cref="FluxAttention.Time{T}"/>, then a sample of the output read back: <see cref="OutputSample"/>).</summary>
/// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
public sealed class DeviceFluxTimer<T> : IFluxTimer
    where T : unmanaged
{
    private readonly FluxAttention _attention;
    private readonly FluxInputs<T> _inputs;
    private readonly FluxParameters _parameters;
    private IReadOnlyList<LaunchConfig>? _candidates;

    /// <summary>Runs <paramref name="inputs"/> with <paramref name="parameters"/> on <paramref name="attention"/>'s device; the output tensor is overwritten.</summary>
    /// <param name="attention">The operation.</param>
    /// <param name="inputs">The tensors.</param>
    /// <param name="parameters">The candidate policy and budgets.</param>
    public DeviceFluxTimer(FluxAttention attention, FluxInputs<T> inputs, FluxParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(attention);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(parameters);
        _attention = attention;
        _inputs = inputs;
        _parameters = parameters;
    }

    /// <inheritdoc/>
    public DType DType => ElementType<T>.DType;

    /// <inheritdoc/>
    public IReadOnlyList<LaunchConfig> Candidates => _candidates ??= _attention.LaunchCandidates(_inputs, _parameters);

    /// <inheritdoc/>
    public IReadOnlyList<double> Time(LaunchConfig? launch, FluxTimingOptions options) =>
        _attention.Time(_inputs, _parameters, launch, options).Milliseconds;

    /// <inheritdoc/>
    public float[] ReadOutputSample(long maxElements) => OutputSample.Of(_inputs.Output, maxElements).Read(_inputs.Output.Buffer);
}
