using System.Diagnostics;
using System.Text.Json.Serialization;

namespace Proteus.Cli;

/// <summary>
/// <c>proteus bench</c>: flux attention on random inputs, the cases of a sweep (dense, the shortlist and
/// the automatic α schedule at each T) or of a <c>--suite</c>, reporting per case the kernel that ran,
/// the median time per call and the samples' spread, FLOP/s from the library's exact candidate count,
/// and the library's peak device allocation; <c>--json</c>, <c>--csv</c> and <c>--plot</c> write them out.
/// </summary>
internal sealed class BenchCommand
{
    /// <summary>
    /// Elements of random data generated on the host per case; larger tensors repeat it. Not a
    /// multiple of any row length, so the repeats never line up with rows or heads.
    /// </summary>
    internal const int RandomPoolLength = (1 << 24) + 1;

    /// <summary>A case of unknown cost longer than this is first estimated on one call at this T.</summary>
    private const long ProbeSeqLen = 1024;

    private readonly Device _device;
    private readonly FluxAttention _attention;
    private readonly BenchOptions _request;
    private readonly double _budgetMs;
    private readonly Random _random = new(Seed: 20240601);

    /// <summary>FLOP/s measured per case name, from which the next case of that name is estimated.</summary>
    private readonly Dictionary<string, double> _throughput = new(StringComparer.Ordinal);

    private BenchCommand(Device device, BenchOptions request)
    {
        _device = device;
        _attention = new FluxAttention(device);
        _request = request;
        _budgetMs = request.BudgetFor(device.Backend) * 1000;
    }

    public static int Run(BenchOptions request)
    {
        using Device device = request.Backend is { } backend ? Device.Open(backend) : Device.OpenBest();
        bool reference = request.Launch is { Mode: LaunchMode.Reference };
        if (device.Backend == Backend.Cpu && request.Launch is not null && !reference)
        {
            throw new UsageException("--mode, --block-q, --block-k, --rows-per-warp and --stages are GPU launch options; the best device here is the CPU");
        }
        if (device.Backend != Backend.Cpu && (reference || request.Threads is not null))
        {
            throw new UsageException($"--threads and --reference are CPU options; the device here is {device.Backend}");
        }
        if (request.Threads is { } threads)
        {
            device.Threads = threads;
        }
        var bench = new BenchCommand(device, request);
        IReadOnlyList<BenchCase> cases = request.Cases(device.Backend, bench._attention);
        var report = new BenchReport(device, request, cases);
        bool plain = Console.IsOutputRedirected || request.JsonPath is not null || request.CsvPath is not null;
        BenchView view = plain ? new PlainBenchView(report) : new LiveBenchView(report);
        view.Run(bench.Execute);
        report.Write(view);
        return 0;
    }

    /// <summary>Times one case, or skips it when one call is estimated to take longer than the call limit.</summary>
    private BenchOutcome Execute(BenchCase benchCase, Action<int, int> progress)
    {
        double estimatedFlops = EstimatedFlops(benchCase);
        if (!_throughput.TryGetValue(benchCase.Name, out double throughput) && benchCase.SeqLen > ProbeSeqLen)
        {
            BenchResult probe = Measure(benchCase with { SeqLen = ProbeSeqLen, Schedule = null }, (_, _) => { }, probeOnly: true, warmup: 1);
            throughput = probe.Flops / (probe.MedianMs / 1000);
        }
        double estimatedSeconds = throughput > 0 ? estimatedFlops / throughput : 0;
        if (estimatedSeconds > _request.CallLimitSeconds)
        {
            return new BenchOutcome(benchCase, null, estimatedSeconds);
        }
        BenchResult result = Measure(benchCase, progress, probeOnly: false, warmup: estimatedSeconds * 1000 >= _budgetMs ? 0 : _request.Warmup);
        _throughput[benchCase.Name] = result.Flops / (result.MedianMs / 1000);
        return new BenchOutcome(benchCase, result, estimatedSeconds);
    }

    /// <summary>
    /// The FLOPs of one call before anything is allocated: 4·D·B·H·Σ min(i + 1, bound) over the rows
    /// (exact for dense and Aligned without DNA, an upper bound otherwise), times the case's expected
    /// share of active rows. Without that share a sparse case looked ~80× dearer than its probe
    /// measured, was judged longer than the budget and timed as one cold call without warm-up.
    /// </summary>
    internal static double EstimatedFlops(BenchCase benchCase)
    {
        double seqLen = benchCase.SeqLen;
        double bound = Math.Min(benchCase.CandidateBound, seqLen);
        double candidates = bound * (bound + 1) / 2 + (seqLen - bound) * bound;
        return 4.0 * benchCase.HeadDim * benchCase.Batch * benchCase.Heads * candidates * (benchCase.ActiveDensity ?? 1.0);
    }

    private BenchResult Measure(BenchCase benchCase, Action<int, int> progress, bool probeOnly, int warmup) => benchCase.DType switch
    {
        DType.Float32 => Measure(benchCase, progress, probeOnly, warmup, value => value),
        DType.Float16 => Measure(benchCase, progress, probeOnly, warmup, value => (Half)value),
        DType.BFloat16 => Measure(benchCase, progress, probeOnly, warmup, value => (BFloat16)value),
        _ => throw new UnreachableException($"--dtype parsing admitted {benchCase.DType}"),
    };

    /// <param name="probeOnly">One call after one warm-up, to estimate the cost of a larger case.</param>
    /// <param name="warmup">Warm-up runs (see <see cref="BenchTimer.Measure"/>).</param>
    private BenchResult Measure<T>(BenchCase benchCase, Action<int, int> progress, bool probeOnly, int warmup, Func<float, T> convert)
        where T : unmanaged
    {
        Device device = _device;
        Random random = _random;
        long batch = benchCase.Batch, heads = benchCase.Heads, kvHeads = benchCase.KvHeads;
        long seqLen = benchCase.SeqLen, headDim = benchCase.HeadDim;
        FluxParameters parameters = benchCase.Parameters;

        // Peak from here covers this case's tensors and the operation's workspace.
        device.ResetPeak();
        T[] pool = RandomValues((int)Math.Min(RandomPoolLength, batch * heads * seqLen * headDim), random, convert);
        using DeviceBuffer<T> query = RandomBuffer(device, batch * heads * seqLen * headDim, pool, random);
        using DeviceBuffer<T> key = RandomBuffer(device, batch * kvHeads * seqLen * headDim, pool, random);
        using DeviceBuffer<T> value = RandomBuffer(device, batch * kvHeads * seqLen * headDim, pool, random);
        using DeviceBuffer<T> output = device.Allocate<T>(batch * heads * seqLen * headDim);
        float[]? salienceValues = parameters.DnaCount > 0 ? RandomValues(HostLength(batch * seqLen), random, x => x) : null;
        using DeviceBuffer<float>? salience = salienceValues is null ? null : device.Upload<float>(salienceValues);
        byte[]? activeValues = benchCase.Activity is { } activity ? ActiveRows(benchCase, activity, random) : null;
        using DeviceBuffer<byte>? active = activeValues is null ? null : device.Upload<byte>(activeValues);
        (int[] Indices, int[] Lengths)? lists = benchCase.ExplicitListLength is { } slots ? ExplicitLists(benchCase, slots, random) : null;
        using DeviceBuffer<int>? listBuffer = lists is { } l ? device.Upload<int>(l.Indices) : null;
        using DeviceBuffer<int>? lengthBuffer = lists is { } n ? device.Upload<int>(n.Lengths) : null;
        var inputs = new FluxInputs<T>
        {
            Query = TensorLayouts.Bhtd(query, batch, heads, seqLen, headDim),
            Key = TensorLayouts.Bhtd(key, batch, kvHeads, seqLen, headDim),
            Value = TensorLayouts.Bhtd(value, batch, kvHeads, seqLen, headDim),
            Output = TensorLayouts.Bhtd(output, batch, heads, seqLen, headDim),
            Active = active is null ? null : new TensorView<byte>(active, [batch, heads, seqLen]),
            Salience = salience is null ? null : new TensorView<float>(salience, [batch, seqLen]),
            ActiveDensity = benchCase.ActiveDensity,
            CandidateLists = listBuffer is null ? null : new TensorView<int>(listBuffer, [batch, seqLen, benchCase.ExplicitListLength!.Value]),
            CandidateLengths = lengthBuffer is null ? null : new TensorView<int>(lengthBuffer, [batch, seqLen]),
        };

        (long candidateSum, long activeRows) = lists is { } counted
            ? (heads * counted.Lengths.Sum(n => (long)n), batch * heads * seqLen)
            : CountCandidates(device, benchCase, inputs.Salience, activeValues);
        // Dense all-rows cases use the (and FlashAttention's) causal convention 2·B·H·T²·D, which
        // the SDPA comparison shares; everything else counts 4·D FLOPs (q·k and p·v) per candidate key.
        bool denseConvention = benchCase.IsDense && benchCase.Activity is null;
        double flops = denseConvention
            ? 2.0 * batch * heads * seqLen * (double)seqLen * headDim
            : 4.0 * headDim * candidateSum;

        FluxAttention attention = _attention;
        Action launch = benchCase.Schedule is null
            ? () => attention.Run(inputs, parameters, benchCase.Launch)
            : () => attention.Run(inputs, new FluxRunOptions { Launch = benchCase.Launch });
        Timing timing = probeOnly
            ? BenchTimer.Measure(launch, device.Synchronize, 1, 1, 0, progress)
            : BenchTimer.Measure(launch, device.Synchronize, warmup, _request.MaxIterations, _budgetMs, progress);
        double seconds = timing.MedianMs / 1000;
        FluxRunInfo ran = attention.LastRun!;
        if (benchCase.Schedule is not null && ran.Parameters != parameters)
        {
            throw new UnreachableException($"the derived run used {ran.Parameters}, not the schedule's {parameters}");
        }
        return new BenchResult(
            benchCase.Name, benchCase.Label, benchCase.Schedule?.Alpha, seqLen, batch, heads, kvHeads, headDim, Names.Of(benchCase.DType), parameters,
            parameters.DnaCount > 0 ? "random" : null, benchCase.Activity, activeRows, batch * heads * seqLen, benchCase.Launch,
            benchCase.LaunchLabel, benchCase.CandidateBound, candidateSum, flops,
            denseConvention ? "2*B*H*T^2*D (dense causal)" : "4*D*sum|C(i)| over active rows (exact)",
            Names.Of(ran.Kernel), ran.ResolvedLaunch, timing.MedianMs, timing.MedianMs * 1000, batch * seqLen / seconds,
            flops / seconds / 1e12, timing.SpreadPercent, device.GetMemoryStats().PeakAllocatedBytes, timing);
    }

    /// <summary>
    /// Σ|C(i)| over the active rows and the number of active rows. The library counts the candidates
    /// (<see cref="Shortlist.Total"/>, exact, SPEC §3) over runs of consecutive tokens with the same number
    /// of active heads, so the FLOP count is what the kernel computes and never re-derived here.
    /// </summary>
    private static (long CandidateSum, long ActiveRows) CountCandidates(
        Device device, BenchCase benchCase, TensorView<float>? salienceView, byte[]? active)
    {
        long seqLen = benchCase.SeqLen, heads = benchCase.Heads;
        long candidateSum = 0, activeRows = 0;
        var rowsAtToken = new long[seqLen];  // active heads at each token
        for (long b = 0; b < benchCase.Batch; b++)
        {
            for (long i = 0; i < seqLen; i++)
            {
                long count = heads;
                if (active is not null)
                {
                    count = 0;
                    for (long h = 0; h < heads; h++)
                    {
                        count += active[(b * heads + h) * seqLen + i];
                    }
                }
                rowsAtToken[i] = count;
                activeRows += count;
            }
            for (long first = 0, next; first < seqLen; first = next)
            {
                for (next = first + 1; next < seqLen && rowsAtToken[next] == rowsAtToken[first]; next++)
                {
                }
                if (rowsAtToken[first] > 0)
                {
                    candidateSum += rowsAtToken[first] *
                        Shortlist.Total(device, benchCase.Parameters, seqLen, salienceView, b, first, next - first);
                }
            }
        }
        return (candidateSum, activeRows);
    }

    /// <summary>
    /// The lists [B, T, L] and lengths [B, T] of an explicit case: row i holds all of [0, i] while i + 1 ≤ L, else L
    /// random positions of [0, i] in ascending order (uniform gaps, O(L) a row, no sort; a repeat may occur, and
    /// counts as the semantics say). Every index is in range, so Σ lengths is the exact candidate count.
    /// </summary>
    internal static (int[] Indices, int[] Lengths) ExplicitLists(BenchCase benchCase, long slots, Random random)
    {
        long rows = benchCase.Batch * benchCase.SeqLen;
        var indices = new int[HostLength(rows * slots)];
        var lengths = new int[HostLength(rows)];
        var gaps = new double[slots + 1];
        for (long row = 0; row < rows; row++)
        {
            long i = row % benchCase.SeqLen;
            Span<int> list = indices.AsSpan((int)(row * slots), (int)slots);
            if (i + 1 <= slots)
            {
                for (int s = 0; s <= i; s++)
                {
                    list[s] = s;
                }
                list[(int)(i + 1)..].Fill(-1);
                lengths[row] = (int)(i + 1);
                continue;
            }
            double total = 0;
            for (int s = 0; s <= slots; s++)
            {
                gaps[s] = -Math.Log(1 - random.NextDouble());
                total += gaps[s];
            }
            double position = 0;
            for (int s = 0; s < slots; s++)
            {
                position += gaps[s];
                list[s] = (int)Math.Min(i, Math.Floor(position / total * (i + 1)));
            }
            lengths[row] = (int)slots;
        }
        return (indices, lengths);
    }

    /// <summary>The active mask [B, H, T] of a sparse case (see <see cref="RowActivity"/>).</summary>
    internal static byte[] ActiveRows(BenchCase benchCase, RowActivity activity, Random random)
    {
        long seqLen = benchCase.SeqLen;
        int heads = (int)benchCase.Heads;
        var mask = new byte[HostLength(benchCase.Batch * heads * seqLen)];
        long kept = Math.Max(1, (long)Math.Round(activity.KeepRatio * seqLen, MidpointRounding.AwayFromZero));
        int[] headOrder = Enumerable.Range(0, heads).ToArray();
        for (long b = 0; b < benchCase.Batch; b++)
        {
            // Token 0 and kept − 1 of tokens 1..T−1, by a partial Fisher–Yates shuffle.
            long[] tokens = new long[seqLen];
            for (long t = 0; t < seqLen; t++)
            {
                tokens[t] = t;
            }
            for (long n = 1; n < kept; n++)
            {
                long pick = random.NextInt64(n, seqLen);
                (tokens[n], tokens[pick]) = (tokens[pick], tokens[n]);
            }
            foreach (long token in tokens.AsSpan(0, (int)kept))
            {
                for (int n = 0; n < activity.HeadsPerToken; n++)
                {
                    int pick = random.Next(n, heads);
                    (headOrder[n], headOrder[pick]) = (headOrder[pick], headOrder[n]);
                    mask[(b * heads + headOrder[n]) * seqLen + token] = 1;
                }
            }
        }
        return mask;
    }

    /// <summary>A device buffer of <paramref name="length"/> elements filled with the pool, repeated from a random start.</summary>
    internal static DeviceBuffer<T> RandomBuffer<T>(Device device, long length, T[] pool, Random random)
        where T : unmanaged
    {
        DeviceBuffer<T> buffer = device.Allocate<T>(length);
        int start = random.Next(pool.Length);
        for (long offset = 0; offset < length; start = 0)
        {
            int count = (int)Math.Min(pool.Length - start, length - offset);
            buffer.CopyFrom(pool.AsSpan(start, count), offset);
            offset += count;
        }
        return buffer;
    }

    /// <summary>Uniform values in [−1, 1): random, so the softmax sees spread-out scores, never the degenerate all-zero case.</summary>
    internal static T[] RandomValues<T>(int count, Random random, Func<float, T> convert)
    {
        var values = new T[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = convert(random.NextSingle() * 2f - 1f);
        }
        return values;
    }

    internal static int HostLength(long count) => count <= Array.MaxLength
        ? (int)count
        : throw new UsageException($"a host array of {count} elements is too large; lower --seq, --heads or --batch");
}

/// <summary>One case's measurement, with everything needed to rerun it (the JSON's <c>results</c>; scripts read these names).</summary>
/// <param name="Alpha">The α the automatic schedule picked (auto cases), else null.</param>
/// <param name="Salience">"random" when the case uses DNA, else null.</param>
/// <param name="CandidateBound">The library's bound on |C(i)| (<see cref="Shortlist.Bound"/>).</param>
/// <param name="CandidateSum">Σ|C(i)| over the active rows, exact (<see cref="Shortlist.Total"/>).</param>
/// <param name="Kernel">The kernel the library reported for the last run.</param>
/// <param name="ResolvedLaunch">The launch configuration the library reported, every field resolved.</param>
/// <param name="MedianMicroseconds">The median per call in µs: calls are queued back to back between two synchronisations.</param>
/// <param name="SpreadPct">Half the range of the samples in % of the median; null with one sample.</param>
internal sealed record BenchResult(
    string Case, string Label, double? Alpha, long SeqLen, long Batch, long Heads, long KvHeads, long HeadDim,
    [property: JsonPropertyName("dtype")] string DType, FluxParameters Parameters, string? Salience, RowActivity? Activity,
    long ActiveRows, long TotalRows, LaunchConfig? Launch, string LaunchLabel, long CandidateBound, long CandidateSum,
    double Flops, string FlopsConvention, string Kernel, LaunchConfig ResolvedLaunch, double MedianMs,
    [property: JsonPropertyName("median_us")] double MedianMicroseconds, double TokensPerSecond, double Tflops, double? SpreadPct,
    ulong PeakBytes, Timing Timing);

/// <summary>A case's fate: measured (<see cref="Result"/>), or skipped because one call was estimated to exceed the call limit.</summary>
/// <param name="EstimatedSeconds">The estimated time of one call (0 when it was not estimated).</param>
internal sealed record BenchOutcome(BenchCase Case, BenchResult? Result, double EstimatedSeconds);
