using Proteus.Interop;
using Proteus.Tuning;

namespace Proteus;

/// <summary>
/// The flux attention operation on one device (docs/flux-attention.md §2): softmax attention of every active row over its candidate set C(i).
/// <para>
/// Two ways to call it: with explicit <see cref="FluxParameters"/>, or derived, where the caller gives only
/// the tensors and the attention's <see cref="Schedule"/> picks α from T while its <see cref="Budget"/>
/// turns (T, α) into the parameters. <see cref="LastRun"/> reports what the last call did. An instance is
/// meant for one thread at a time (<see cref="LastRun"/> belongs to the instance).
/// </para>
/// </summary>
public sealed class FluxAttention
{
    /// <summary>Creates the operation for <paramref name="device"/>, deriving with the default schedule and budget.</summary>
    /// <param name="device">The device every tensor of a call must live on.</param>
    public FluxAttention(Device device)
        : this(device, new AlphaSchedule(), new FluxBudget())
    {
    }

    /// <summary>Creates the operation for <paramref name="device"/> with the schedule and budget that derived runs use.</summary>
    /// <param name="device">The device every tensor of a call must live on.</param>
    /// <param name="schedule">Decides α from T (it may be shared, e.g. with a training loop that sets α).</param>
    /// <param name="budget">Turns (T, α) into the parameters.</param>
    public FluxAttention(Device device, AlphaSchedule schedule, FluxBudget budget)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(budget);
        Device = device;
        Schedule = schedule;
        Budget = budget;
    }

    /// <summary>The device the operation runs on.</summary>
    public Device Device { get; }

    /// <summary>Decides α for derived runs.</summary>
    public AlphaSchedule Schedule { get; }

    /// <summary>Derives the parameters of derived runs.</summary>
    public FluxBudget Budget { get; }

    private TuningCache? _cache;
    private TuningEnvironment? _environment;

    /// <summary>
    /// Whether calls are timed (false by default). The library times the call on the device (events
    /// around it on the stream; a steady clock on the CPU) and waits for it, which makes every call
    /// blocking; hence it is opt-in. Derived runs are also timed when the schedule has a latency controller,
    /// which needs the run times and is configured on purpose; each such time is reported to the schedule.
    /// </summary>
    public bool MeasureTime { get; set; }

    /// <summary>
    /// Whether calls without a launch configuration run tuned launches: <see cref="TuningMode.CacheOnly"/>
    /// (the default) looks the problem up in <see cref="Cache"/> and runs the heuristic on a miss;
    /// <see cref="TuningMode.TuneOnMiss"/> tunes a miss with <see cref="Tuner"/> first. A lookup never
    /// fails the call: an unreadable cache, or a cached launch the library now refuses, runs the heuristic.
    /// <see cref="FluxRunInfo.LaunchSource"/> says which it was.
    /// </summary>
    public TuningMode Tuning { get; set; } = TuningMode.CacheOnly;

    /// <summary>The cache of tuned launches (<see cref="TuningCache.Default"/> unless set).</summary>
    public TuningCache Cache
    {
        get => _cache ??= TuningCache.Default;
        set => _cache = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The tuner of <see cref="TuningMode.TuneOnMiss"/> (default options unless set).</summary>
    public FluxTuner Tuner { get; set; } = new();

    /// <summary>What the last successful call on this instance did; null before the first.</summary>
    public FluxRunInfo? LastRun { get; private set; }

    /// <summary>
    /// Queues flux attention on the device's stream. Every argument is validated by the library
    /// before any work starts. Read the results after <see cref="Device.Synchronize"/> or through
    /// <see cref="DeviceBuffer{T}.CopyTo"/>, which waits. <see cref="LastRun"/> then says which kernel ran
    /// with which launch configuration.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="inputs">The tensors and the query slice.</param>
    /// <param name="parameters">The candidate policy and budgets.</param>
    /// <param name="launch">The GPU launch configuration; null for the library's heuristic.</param>
    /// <returns>What ran (also in <see cref="LastRun"/>).</returns>
    /// <exception cref="ProteusInvalidArgumentException">A shape, stride, query offset, budget, launch field or missing tensor; <see cref="ProteusInvalidArgumentException.ArgumentName"/> says which.</exception>
    /// <exception cref="ProteusUnsupportedDTypeException">The element type is not float32, float16 or bfloat16.</exception>
    /// <exception cref="ProteusUnsupportedHeadDimException">D is not 8, 16, 32, 64, 80, 96, 128 or 256.</exception>
    /// <exception cref="ProteusDeviceMismatchException">A tensor's buffer belongs to another device.</exception>
    /// <exception cref="ProteusOutOfMemoryException">The workspace does not fit.</exception>
    public FluxRunInfo Run<T>(FluxInputs<T> inputs, FluxParameters parameters, LaunchConfig? launch = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(parameters);
        (LaunchConfig? chosen, LaunchSource source) = ChooseLaunch(inputs, parameters, launch, null);
        (ProteusFluxRunInfo ran, TimeSpan? elapsed) = ExecuteChosen(inputs, parameters, ref chosen, ref source, MeasureTime);
        // Read the shape only now: the library has checked the tensors, so a bad one is reported as the library reports it.
        LastRun = new FluxRunInfo(Device.Backend, ShapeOf(inputs), inputs.Query.Shape[2], parameters, chosen, ran, null, null, elapsed)
        {
            LaunchSource = source,
        };
        return LastRun;
    }

    /// <summary>
    /// Queues flux attention with derived parameters: α from <see cref="Schedule"/> at the keys' T (and
    /// the query's D, for a derived seq_low) unless <paramref name="options"/> fixes it, then the parameters
    /// from <see cref="Budget"/> at that shape, α and the schedule's budget scale. <see cref="LastRun"/>
    /// shows the decision, the budgets and the parameters, which reproduce the call when run explicitly.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="inputs">The tensors; q must be [B, H, Tq, D] and k [B, Hkv, T, D]. DNA budgets (K &gt; 0) need salience.</param>
    /// <param name="options">Per-call α, softmax scale and launch configuration; null for none.</param>
    /// <returns>What ran (also in <see cref="LastRun"/>).</returns>
    /// <exception cref="ArgumentException">The query or the key is not a rank-4 view.</exception>
    /// <exception cref="ProteusException">As for <see cref="Run{T}(FluxInputs{T}, FluxParameters, LaunchConfig?)"/>.</exception>
    public FluxRunInfo Run<T>(FluxInputs<T> inputs, FluxRunOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new FluxRunOptions();
        AttentionShape shape = ShapeOf(inputs);
        if (shape.SeqLen < 1 || shape.HeadDim < 1)
        {
            throw new ArgumentException($"The keys' T ({shape.SeqLen}) and the query's D ({shape.HeadDim}) must be ≥ 1 to derive budgets.", nameof(inputs));
        }
        bool scheduled = options.Alpha is null;
        AlphaDecision decision = options.Alpha is { } alpha
            ? AlphaDecision.Explicit(alpha)
            : Schedule.Evaluate(shape.SeqLen, shape.HeadDim);
        ShortlistBudget budget = Budget.Compute(shape, decision.Alpha, decision.BudgetScale);
        FluxParameters parameters = budget.ToFluxParameters() with { Scale = options.Scale };

        bool controlled = scheduled && Schedule.Options.LatencyController is not null;
        (LaunchConfig? chosen, LaunchSource source) = ChooseLaunch(inputs, parameters, options.Launch, decision.Alpha);
        (ProteusFluxRunInfo ran, TimeSpan? elapsed) = ExecuteChosen(inputs, parameters, ref chosen, ref source, MeasureTime || controlled);
        LastRun = new FluxRunInfo(Device.Backend, shape, inputs.Query.Shape[2], parameters, chosen, ran, decision, budget, elapsed)
        {
            LaunchSource = source,
        };
        if (controlled)
        {
            Schedule.ReportLatency(elapsed!.Value);
        }
        return LastRun;
    }

    /// <summary>
    /// The launch configurations the library offers for this call on this device, the heuristic's choice
    /// first: what an autotuner searches (each can be passed to <see cref="Run{T}(FluxInputs{T}, FluxParameters, LaunchConfig?)"/>).
    /// Nothing runs; the tensors are validated as for a run, their contents not read. The CPU backend
    /// offers its one configuration, the default.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="inputs">The tensors and the query slice.</param>
    /// <param name="parameters">The candidate policy and budgets.</param>
    /// <returns>The configurations, every field resolved.</returns>
    /// <exception cref="ProteusException">As for <see cref="Run{T}(FluxInputs{T}, FluxParameters, LaunchConfig?)"/>.</exception>
    public unsafe IReadOnlyList<LaunchConfig> LaunchCandidates<T>(FluxInputs<T> inputs, FluxParameters parameters)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(parameters);
        _ = ElementType<T>.DType;
        ProteusContextHandle context = Device.Context;
        using var held = new HandleReferences();
        ProteusFluxTensors tensors = ToNative(inputs, held);
        ProteusFluxParams nativeParameters = parameters.ToNative();
        uint configSize = (uint)sizeof(ProteusLaunchConfig);
        int count;
        NativeStatus.Check(NativeMethods.proteus_flux_launch_candidates(context, &tensors, &nativeParameters, null, configSize, 0, &count));
        var configs = new ProteusLaunchConfig[count];
        fixed (ProteusLaunchConfig* pointer = configs)
        {
            int written;
            NativeStatus.Check(NativeMethods.proteus_flux_launch_candidates(
                context, &tensors, &nativeParameters, pointer, configSize, count, &written));
            if (written != count)
            {
                throw new ProteusInternalException($"proteus_flux_launch_candidates offered {count} configurations, then {written}.");
            }
        }
        return configs.Select(config => LaunchConfig.FromNative(config)).ToArray();
    }

    /// <summary>
    /// Runs the call <see cref="FluxTimingOptions.Warmup"/> times untimed, then <see cref="FluxTimingOptions.Repeats"/>
    /// times each timed on the device (events on the stream around each run on a GPU, a steady clock on the
    /// CPU), optionally with a cache flush before each, and waits for the last. The outputs hold the
    /// last run's result; <see cref="LastRun"/> says what ran, with the median as its <see cref="FluxRunInfo.Elapsed"/>.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="inputs">The tensors and the query slice.</param>
    /// <param name="parameters">The candidate policy and budgets.</param>
    /// <param name="launch">The launch configuration; null for the library's heuristic.</param>
    /// <param name="options">Warm-up, repeats and cache flush; null for the defaults.</param>
    /// <returns>The time of every timed run and what ran.</returns>
    /// <exception cref="ProteusException">As for <see cref="Run{T}(FluxInputs{T}, FluxParameters, LaunchConfig?)"/>.</exception>
    public unsafe FluxTiming Time<T>(FluxInputs<T> inputs, FluxParameters parameters, LaunchConfig? launch = null, FluxTimingOptions? options = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(parameters);
        options ??= new FluxTimingOptions();
        (ProteusFluxRunInfo ran, float[] milliseconds) = TimeNative(inputs, parameters, launch, options.ToNative());
        double[] times = milliseconds.Select(ms => (double)ms).ToArray();
        LastRun = new FluxRunInfo(Device.Backend, ShapeOf(inputs), inputs.Query.Shape[2], parameters, launch, ran, null, null,
            TimeSpan.FromMilliseconds(FluxTiming.Median(times)));
        return new FluxTiming(times, LastRun);
    }

    /// <summary>The caller's launch, else (per <see cref="Tuning"/>) the cache's or the tuner's, else the heuristic's (null).</summary>
    private (LaunchConfig? Launch, LaunchSource Source) ChooseLaunch<T>(FluxInputs<T> inputs, FluxParameters parameters, LaunchConfig? launch, double? alpha)
        where T : unmanaged
    {
        if (launch is not null)
        {
            return (launch, LaunchSource.Caller);
        }
        // Malformed tensors have no key: the library reports them when the call runs.
        if (Tuning == TuningMode.Off || inputs.Query.Rank != 4 || inputs.Key.Rank != 4)
        {
            return (null, LaunchSource.Heuristic);
        }
        _environment ??= TuningEnvironment.Of(Device);
        TuningKey key = TuningKey.Of(FluxSignature.Of(inputs, parameters, alpha));
        if (Cache.TryGet(_environment, key, out TunedLaunch? cached))
        {
            return (cached.Heuristic ? null : cached.Launch, LaunchSource.Cache);
        }
        if (Tuning != TuningMode.TuneOnMiss)
        {
            return (null, LaunchSource.Heuristic);
        }
        TuningResult tuned = Tuner.Tune(this, inputs, parameters);
        Cache.Put(_environment, key, tuned.ToTunedLaunch());
        return (tuned.HeuristicBest ? null : tuned.Chosen, LaunchSource.Tuner);
    }

    /// <summary>Runs with the chosen launch; a tuned launch the library refuses (a stale entry) falls back to the heuristic.</summary>
    private (ProteusFluxRunInfo Ran, TimeSpan? Elapsed) ExecuteChosen<T>(
        FluxInputs<T> inputs, FluxParameters parameters, ref LaunchConfig? launch, ref LaunchSource source, bool timed)
        where T : unmanaged
    {
        try
        {
            return Execute(inputs, parameters, launch, timed);
        }
        catch (ProteusInvalidArgumentException e) when (source is LaunchSource.Cache or LaunchSource.Tuner && e.ArgumentName?.StartsWith("launch", StringComparison.Ordinal) == true)
        {
            ProteusLog.Write(Microsoft.Extensions.Logging.LogLevel.Warning, $"A tuned launch was refused ({e.Message}); the heuristic runs instead.");
            launch = null;
            source = LaunchSource.Heuristic;
            return Execute(inputs, parameters, null, timed);
        }
    }

    private unsafe (ProteusFluxRunInfo Ran, TimeSpan? Elapsed) Execute<T>(
        FluxInputs<T> inputs, FluxParameters parameters, LaunchConfig? launch, bool timed)
        where T : unmanaged
    {
        if (timed)
        {
            // One run timed on the device by the library, which waits for it.
            var once = new ProteusFluxTiming { StructSize = (uint)sizeof(ProteusFluxTiming), Warmup = 0, Repeats = 1 };
            (ProteusFluxRunInfo timedRun, float[] milliseconds) = TimeNative(inputs, parameters, launch, once);
            return (timedRun, TimeSpan.FromMilliseconds(milliseconds[0]));
        }
        ProteusFluxRunInfo ran = CallNative(inputs, parameters, launch, NativeMethods.proteus_flux_attention_v2);
        return (ran, null);
    }

    private unsafe (ProteusFluxRunInfo Ran, float[] Milliseconds) TimeNative<T>(
        FluxInputs<T> inputs, FluxParameters parameters, LaunchConfig? launch, ProteusFluxTiming timing)
        where T : unmanaged
    {
        var milliseconds = new float[Math.Max(timing.Repeats, 0)];
        ProteusFluxRunInfo ran = CallNative(inputs, parameters, launch, (context, tensors, nativeParameters, nativeLaunch, runInfo) =>
        {
            ProteusFluxTiming options = timing;
            fixed (float* times = milliseconds)
            {
                return NativeMethods.proteus_flux_time(context, tensors, nativeParameters, nativeLaunch, &options, times, runInfo);
            }
        });
        return (ran, milliseconds);
    }

    /// <summary>A C entry point over one flux call's native arguments (proteus_flux_attention_v2's, or a wrapper of another).</summary>
    private unsafe delegate ProteusStatus NativeFluxCall(ProteusContextHandle context, ProteusFluxTensors* tensors,
        ProteusFluxParams* parameters, ProteusLaunchConfig* launch, ProteusFluxRunInfo* runInfo);

    /// <summary>Marshals one flux call's arguments (holding the buffers for its duration), calls <paramref name="call"/>, checks its status.</summary>
    private unsafe ProteusFluxRunInfo CallNative<T>(FluxInputs<T> inputs, FluxParameters parameters, LaunchConfig? launch, NativeFluxCall call)
        where T : unmanaged
    {
        _ = ElementType<T>.DType;
        // The tensors carry raw buffer handles, which the marshaller cannot protect: hold them for the call.
        using var held = new HandleReferences();
        ProteusFluxTensors tensors = ToNative(inputs, held);
        ProteusFluxParams nativeParameters = parameters.ToNative();
        ProteusLaunchConfig nativeLaunch = launch?.ToNative() ?? default;
        var ran = new ProteusFluxRunInfo { StructSize = (uint)sizeof(ProteusFluxRunInfo) };
        NativeStatus.Check(call(Device.Context, &tensors, &nativeParameters, launch is null ? null : &nativeLaunch, &ran));
        return ran;
    }

    /// <summary>
    /// The density hint of a mask whose caller knows its density (<see cref="FluxInputs{T}.ActiveDensity"/>):
    /// ACTIVE_SPARSE under a quarter of the rows, ACTIVE_DENSE from a quarter on; none without a mask.
    /// </summary>
    internal static uint ActiveHintFlags<T>(FluxInputs<T> inputs)
        where T : unmanaged
    {
        if (inputs.ActiveDensity is { } density && !(density is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(inputs), density, "ActiveDensity is a share of rows: it must be in [0, 1].");
        }
        return (inputs.Active, inputs.ActiveDensity) switch
        {
            (null, _) or (_, null) => 0u,
            (_, < 0.25) => (uint)ProteusFluxTensorFlags.ActiveSparse,
            _ => (uint)ProteusFluxTensorFlags.ActiveDense,
        };
    }

    /// <summary>The tensors as the C ABI takes them; the caller holds the buffers through <paramref name="held"/>.</summary>
    internal static unsafe ProteusFluxTensors ToNative<T>(FluxInputs<T> inputs, HandleReferences held)
        where T : unmanaged => new()
    {
        StructSize = (uint)sizeof(ProteusFluxTensors),
        Flags = (inputs.QueryOffset is null ? 0u : (uint)ProteusFluxTensorFlags.QueryOffset) | ActiveHintFlags(inputs),
        QueryOffset = inputs.QueryOffset ?? 0,
        Q = inputs.Query.ToNative(held, "query"),
        K = inputs.Key.ToNative(held, "key"),
        V = inputs.Value.ToNative(held, "value"),
        O = inputs.Output.ToNative(held, "output"),
        Active = inputs.Active?.ToNative(held, "active") ?? default,
        Salience = inputs.Salience?.ToNative(held, "salience") ?? default,
        Lse = inputs.Lse?.ToNative(held, "lse") ?? default,
        Candidates = inputs.CandidateLists?.ToNative(held, "candidateLists") ?? default,
        CandidateLengths = inputs.CandidateLengths?.ToNative(held, "candidateLengths") ?? default,
    };

    /// <summary>B, H and D of the query, T of the keys.</summary>
    private static AttentionShape ShapeOf<T>(FluxInputs<T> inputs)
        where T : unmanaged
    {
        if (inputs.Query.Rank != 4)
        {
            throw new ArgumentException($"The query must be a [B, H, Tq, D] view, not rank {inputs.Query.Rank}.", "query");
        }
        if (inputs.Key.Rank != 4)
        {
            throw new ArgumentException($"The key must be a [B, Hkv, T, D] view, not rank {inputs.Key.Rank}.", "key");
        }
        return new AttentionShape(inputs.Query.Shape[0], inputs.Query.Shape[1], inputs.Key.Shape[2], inputs.Query.Shape[3]);
    }
}
