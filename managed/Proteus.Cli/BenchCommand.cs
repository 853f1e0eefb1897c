using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Proteus.Cli;

/// <summary>
/// <c>proteus bench</c>: flux attention on random inputs, one case per sequence length (or the cases of
/// a <c>--suite</c>), reporting per case the kernel that ran, the median time per call (ms and µs),
/// tokens/s, TFLOP/s from the library's exact candidate count, and the library's peak device allocation; <c>--json</c> writes all of it with the exact shapes.
/// </summary>
internal static class BenchCommand
{
    /// <summary>
    /// Elements of random data generated on the host per case; larger tensors repeat it. Not a
    /// multiple of any row length, so the repeats never line up with rows or heads.
    /// </summary>
    private const int RandomPoolLength = (1 << 24) + 1;

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static int Run(CommandLine options)
    {
        BenchOptions request = BenchOptions.Parse(options);
        using Device device = request.Backend is { } backend ? Device.Open(backend) : Device.OpenBest();
        IReadOnlyList<BenchCase> cases = request.Cases(device.Backend);

        Console.WriteLine(
            $"proteus bench on {Names.Of(device.Backend)}:{device.Info.Ordinal} {device.Info.Name} | " +
            $"{(request.Suite is { } suite ? $"suite {suite}{(request.Scale is { } scale ? $" scaled by {scale:G4}" : "")} | " : "")}" +
            $"≤{request.BudgetSeconds:G4} s of samples per case, ≤{request.MaxIterations} samples, {request.Warmup} warm-up");
        Console.WriteLine(
            $"{"case",-14}  {"T",8}  {"B x H/Hkv x D",13}  {"dtype",8}  {"mode",-36}  {"launch",-14}  {"kernel",-16}  {"ms (median)",11}  " +
            $"{"µs/call",10}  {"tokens/s",12}  {"TFLOP/s",8}  {"peak MiB",9}  {"samples",9}");

        var random = new Random(Seed: 20240601);
        var results = new List<BenchResult>();
        foreach (BenchCase benchCase in cases)
        {
            BenchResult result = benchCase.DType switch
            {
                DType.Float32 => Measure(device, benchCase, request, random, value => value),
                DType.Float16 => Measure(device, benchCase, request, random, value => (Half)value),
                DType.BFloat16 => Measure(device, benchCase, request, random, value => (BFloat16)value),
                _ => throw new UnreachableException($"--dtype parsing admitted {benchCase.DType}"),
            };
            results.Add(result);
            Console.WriteLine(
                $"{result.Case,-14}  {result.SeqLen,8}  {benchCase.Shape,13}  {result.DType,8}  {result.Label,-36}  {result.LaunchLabel,-14}  " +
                $"{result.Kernel,-16}  {result.MedianMs,11:0.000}  {result.MedianMicroseconds,10:0.0}  {result.TokensPerSecond,12:0}  {result.Tflops,8:0.00}  " +
                $"{result.PeakBytes / (double)(1 << 20),9:0.0}  {$"{result.Timing.SampleMs.Length}x{result.Timing.LaunchesPerSample}",9}");
        }

        if (request.JsonPath is { } path)
        {
            var report = new BenchReport(
                ProteusLibrary.Version.ToString(), ProteusLibrary.BuildInfo, device.Info, request.Suite, request.Scale ?? 1, request.Warmup,
                request.MaxIterations, request.BudgetSeconds, results);
            File.WriteAllText(path, JsonSerializer.Serialize(report, JsonOptions) + Environment.NewLine);
            Console.WriteLine($"results written to {path}");
        }
        return 0;
    }

    private static BenchResult Measure<T>(Device device, BenchCase benchCase, BenchOptions request, Random random, Func<float, T> convert)
        where T : unmanaged
    {
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
        var inputs = new FluxInputs<T>
        {
            Query = TensorLayouts.Bhtd(query, batch, heads, seqLen, headDim),
            Key = TensorLayouts.Bhtd(key, batch, kvHeads, seqLen, headDim),
            Value = TensorLayouts.Bhtd(value, batch, kvHeads, seqLen, headDim),
            Output = TensorLayouts.Bhtd(output, batch, heads, seqLen, headDim),
            Active = active is null ? null : new TensorView<byte>(active, [batch, heads, seqLen]),
            Salience = salience is null ? null : new TensorView<float>(salience, [batch, seqLen]),
        };

        (long candidateSum, long activeRows) = CountCandidates(device, benchCase, inputs.Salience, activeValues);
        // Dense all-rows cases use the issue's (and FlashAttention's) causal convention 2·B·H·T²·D, which
        // the SDPA comparison shares; everything else counts 4·D FLOPs (q·k and p·v) per candidate key.
        bool denseConvention = benchCase.IsDense && benchCase.Activity is null;
        double flops = denseConvention
            ? 2.0 * batch * heads * seqLen * (double)seqLen * headDim
            : 4.0 * headDim * candidateSum;

        var attention = new FluxAttention(device);
        Timing timing = BenchTimer.Measure(
            () => attention.Run(inputs, parameters, benchCase.Launch), device.Synchronize, request.Warmup, request.MaxIterations,
            request.BudgetSeconds * 1000);
        double seconds = timing.MedianMs / 1000;
        FluxRunInfo ran = attention.LastRun!;
        return new BenchResult(
            benchCase.Name, benchCase.Label, seqLen, batch, heads, kvHeads, headDim, Names.Of(benchCase.DType), parameters,
            parameters.DnaCount > 0 ? "random" : null, benchCase.Activity, activeRows, batch * heads * seqLen, benchCase.Launch,
            benchCase.LaunchLabel, Shortlist.Bound(parameters, seqLen), candidateSum, flops,
            denseConvention ? "2*B*H*T^2*D (dense causal)" : "4*D*sum|C(i)| over active rows (exact)",
            Names.Of(ran.Kernel), ran.ResolvedLaunch, timing.MedianMs, timing.MedianMs * 1000, batch * seqLen / seconds,
            flops / seconds / 1e12, device.GetMemoryStats().PeakAllocatedBytes, timing);
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

    /// <summary>The active mask [B, H, T] of a sparse case (see <see cref="RowActivity"/>).</summary>
    private static byte[] ActiveRows(BenchCase benchCase, RowActivity activity, Random random)
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
    private static DeviceBuffer<T> RandomBuffer<T>(Device device, long length, T[] pool, Random random)
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
    private static T[] RandomValues<T>(int count, Random random, Func<float, T> convert)
    {
        var values = new T[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = convert(random.NextSingle() * 2f - 1f);
        }
        return values;
    }

    private static int HostLength(long count) => count <= Array.MaxLength
        ? (int)count
        : throw new UsageException($"a host array of {count} elements is too large; lower --seq, --heads or --batch");

    /// <summary>One case's measurement, with everything needed to rerun it.</summary>
    /// <param name="Salience">"random" when the case uses DNA, else null.</param>
    /// <param name="CandidateBound">The library's bound on |C(i)| (<see cref="Shortlist.Bound"/>).</param>
    /// <param name="CandidateSum">Σ|C(i)| over the active rows, exact (<see cref="Shortlist.Total"/>).</param>
    /// <param name="Kernel">The kernel the library reported for the last run.</param>
    /// <param name="ResolvedLaunch">The launch configuration the library reported, every field resolved.</param>
    /// <param name="MedianMicroseconds">The median per call in µs: calls are queued back to back between two synchronisations.</param>
    private sealed record BenchResult(
        string Case, string Label, long SeqLen, long Batch, long Heads, long KvHeads, long HeadDim,
        [property: JsonPropertyName("dtype")] string DType, FluxParameters Parameters, string? Salience, RowActivity? Activity,
        long ActiveRows, long TotalRows, LaunchConfig? Launch, string LaunchLabel, long CandidateBound, long CandidateSum,
        double Flops, string FlopsConvention, string Kernel, LaunchConfig ResolvedLaunch, double MedianMs,
        [property: JsonPropertyName("median_us")] double MedianMicroseconds, double TokensPerSecond, double Tflops, ulong PeakBytes,
        Timing Timing);

    /// <summary>What <c>--json</c> writes.</summary>
    private sealed record BenchReport(
        string LibraryVersion, BuildInfo Build, DeviceInfo Device, string? Suite, double Scale, int Warmup, int MaxIterations, double BudgetSeconds,
        IReadOnlyList<BenchResult> Results);
}
