using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Proteus.Cli;

/// <summary>
/// <c>proteus bench</c>: flux attention over a sweep of sequence lengths on random inputs, timing each
/// iteration from launch to synchronize, and reporting the median, tokens/s and the library's peak
/// device allocation.
/// </summary>
internal static class BenchCommand
{
    /// <summary>The <c>--shortlist</c> budgets: the Seed policy's saturated budgets (W 341, S 256, A 171) for L = 512 (SPEC Appendix A).</summary>
    private static readonly FluxParameters ShortlistBudgets = FluxParameters.Dense with { Window = 341, AnchorStride = 256, AnchorCount = 171 };

    private static readonly Dictionary<string, DType> DTypes = new()
    {
        ["float32"] = DType.Float32,
        ["float16"] = DType.Float16,
        ["bfloat16"] = DType.BFloat16,
    };

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static int Run(CommandLine options)
    {
        BenchRequest request = BenchRequest.Parse(options);
        using Device device = request.Backend is { } backend ? Device.Open(backend) : Device.OpenBest();
        BenchSettings settings = request.Resolve(device.Backend);

        Console.WriteLine(
            $"proteus bench on {Names.Of(device.Backend)}:{device.Info.Ordinal} {device.Info.Name} | {Names.Of(settings.DType)} | " +
            $"B={settings.Batch} H={settings.Heads} Hkv={settings.KvHeads} D={settings.HeadDim} | {Describe(settings.Parameters)} | " +
            $"warmup {settings.Warmup}, iterations {settings.Iterations}");
        Console.WriteLine($"{"T",8}  {"mode",-24}  {"|C|<=",7}  {"ms (median)",12}  {"tokens/s",12}  {"peak MiB",9}");

        var random = new Random(Seed: 20240601);
        var results = new List<BenchResult>();
        foreach (long seqLen in settings.SeqLens)
        {
            BenchResult result = settings.DType switch
            {
                DType.Float32 => Measure(device, settings, seqLen, random, value => value),
                DType.Float16 => Measure(device, settings, seqLen, random, value => (Half)value),
                DType.BFloat16 => Measure(device, settings, seqLen, random, value => (BFloat16)value),
                _ => throw new UnreachableException($"--dtype parsing admitted {settings.DType}"),
            };
            results.Add(result);
            Console.WriteLine(
                $"{result.SeqLen,8}  {result.Mode,-24}  {result.CandidateBound,7}  {result.MedianMs,12:0.000}  " +
                $"{result.TokensPerSecond,12:0}  {result.PeakBytes / (double)(1 << 20),9:0.0}");
        }

        if (request.JsonPath is { } path)
        {
            var report = new BenchReport(
                ProteusLibrary.Version.ToString(), device.Info, Names.Of(settings.DType), settings.Batch, settings.Heads,
                settings.KvHeads, settings.HeadDim, settings.Parameters, settings.Warmup, settings.Iterations, results);
            File.WriteAllText(path, JsonSerializer.Serialize(report, JsonOptions) + Environment.NewLine);
            Console.WriteLine($"results written to {path}");
        }
        return 0;
    }

    private static BenchResult Measure<T>(Device device, BenchSettings settings, long seqLen, Random random, Func<float, T> convert)
        where T : unmanaged
    {
        long batch = settings.Batch, heads = settings.Heads, kvHeads = settings.KvHeads, headDim = settings.HeadDim;
        FluxParameters parameters = settings.Parameters;

        // Peak from here covers this length's tensors and the operation's workspace.
        device.ResetPeak();
        using DeviceBuffer<T> query = device.Upload<T>(RandomValues(batch * heads * seqLen * headDim, random, convert));
        using DeviceBuffer<T> key = device.Upload<T>(RandomValues(batch * kvHeads * seqLen * headDim, random, convert));
        using DeviceBuffer<T> value = device.Upload<T>(RandomValues(batch * kvHeads * seqLen * headDim, random, convert));
        using DeviceBuffer<T> output = device.Allocate<T>(batch * heads * seqLen * headDim);
        using DeviceBuffer<float>? salience = parameters.DnaCount > 0
            ? device.Upload<float>(RandomValues(batch * seqLen, random, x => x))
            : null;
        var inputs = new FluxInputs<T>
        {
            Query = TensorLayouts.Bhtd(query, batch, heads, seqLen, headDim),
            Key = TensorLayouts.Bhtd(key, batch, kvHeads, seqLen, headDim),
            Value = TensorLayouts.Bhtd(value, batch, kvHeads, seqLen, headDim),
            Output = TensorLayouts.Bhtd(output, batch, heads, seqLen, headDim),
            Salience = salience is null ? null : new TensorView<float>(salience, [batch, seqLen]),
        };

        var attention = new FluxAttention(device);
        for (int i = 0; i < settings.Warmup; i++)
        {
            attention.Run(inputs, parameters);
            device.Synchronize();
        }
        var times = new double[settings.Iterations];
        var stopwatch = new Stopwatch();
        for (int i = 0; i < times.Length; i++)
        {
            stopwatch.Restart();
            attention.Run(inputs, parameters);
            device.Synchronize();
            times[i] = stopwatch.Elapsed.TotalMilliseconds;
        }

        double median = Median(times);
        return new BenchResult(
            seqLen, Describe(parameters), Shortlist.Bound(parameters, seqLen), median, batch * seqLen / (median / 1000.0),
            device.GetMemoryStats().PeakAllocatedBytes, times);
    }

    /// <summary>Uniform values in [−1, 1): random, so the softmax sees spread-out scores, never the degenerate all-zero case.</summary>
    private static T[] RandomValues<T>(long count, Random random, Func<float, T> convert)
    {
        if (count > Array.MaxLength)
        {
            throw new UsageException($"a tensor of {count} elements is too large for one host array; lower --seq, --heads or --batch");
        }
        var values = new T[count];
        for (long i = 0; i < count; i++)
        {
            values[i] = convert(random.NextSingle() * 2f - 1f);
        }
        return values;
    }

    private static double Median(double[] values)
    {
        double[] sorted = values.Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>"dense", or the budgets in force ("W=341 S=256 A=171").</summary>
    private static string Describe(FluxParameters parameters)
    {
        var parts = new List<string>();
        if (parameters.Window != FluxParameters.Dense.Window)
        {
            parts.Add($"W={parameters.Window}");
        }
        if (parameters.AnchorCount > 0)
        {
            parts.Add($"S={parameters.AnchorStride} A={parameters.AnchorCount}");
        }
        if (parameters.DnaCount > 0)
        {
            parts.Add($"K={parameters.DnaCount}");
        }
        return parts.Count == 0 ? "dense" : string.Join(' ', parts);
    }

    /// <summary>The options as given; defaults that depend on the device are filled in by <see cref="Resolve"/>.</summary>
    private sealed record BenchRequest(
        Backend? Backend, long Batch, long? Heads, long? KvHeads, long HeadDim, DType? DType, long[]? SeqLens,
        FluxParameters Parameters, int Warmup, int Iterations, string? JsonPath)
    {
        public static BenchRequest Parse(CommandLine options)
        {
            Backend? backend = (options.Text("backend")?.ToLowerInvariant() ?? "best") switch
            {
                "best" => null,
                "cpu" => Proteus.Backend.Cpu,
                "cuda" => Proteus.Backend.Cuda,
                "hip" => Proteus.Backend.Hip,
                var other => throw new UsageException($"--backend must be one of cpu, cuda, hip, best, not '{other}'"),
            };

            FluxParameters parameters = options.Flag("shortlist") ? ShortlistBudgets : FluxParameters.Dense;
            parameters = parameters with
            {
                Window = options.Integer("window", 1) ?? parameters.Window,
                AnchorStride = options.Integer("anchor-stride", 1) ?? parameters.AnchorStride,
                AnchorCount = options.Integer("anchors", 0) ?? parameters.AnchorCount,
                DnaCount = options.Integer("dna", 0) ?? parameters.DnaCount,
            };
            if (parameters.AnchorCount > 0 && parameters.AnchorStride == 0)
            {
                throw new UsageException("--anchors needs --anchor-stride");
            }

            var request = new BenchRequest(
                backend,
                Batch: options.Integer("batch", 1) ?? 1,
                Heads: options.Integer("heads", 1),
                KvHeads: options.Integer("kv-heads", 1),
                HeadDim: options.Integer("head-dim", 1) ?? 64,
                DType: options.Choice("dtype", DTypes),
                SeqLens: options.IntegerList("seq", 1),
                parameters,
                Warmup: (int)(options.Integer("warmup", 0, 1000) ?? 1),
                Iterations: (int)(options.Integer("iterations", 1, 100_000) ?? 5),
                JsonPath: options.Text("json"));
            options.RejectUnknown();
            if (request.JsonPath is { } path && Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder && !Directory.Exists(folder))
            {
                throw new UsageException($"--json: the folder {folder} does not exist");
            }
            return request;
        }

        /// <summary>
        /// The settings for a device of <paramref name="backend"/>. The CPU defaults (float32, T up to
        /// 2048) keep the default run well under a minute on a 2-core machine; the GPU defaults sweep
        /// 1K to 64K tokens in bfloat16.
        /// </summary>
        public BenchSettings Resolve(Backend backend)
        {
            bool cpu = backend == Proteus.Backend.Cpu;
            long heads = Heads ?? 16;
            long kvHeads = KvHeads ?? heads;
            if (heads % kvHeads != 0)
            {
                throw new UsageException($"--kv-heads ({kvHeads}) must divide the query heads ({heads})");
            }
            long[] seqLens = SeqLens ?? (cpu ? [256, 512, 1024, 2048] : [1024, 2048, 4096, 8192, 16384, 32768, 65536]);
            return new BenchSettings(
                Batch, heads, kvHeads, HeadDim, DType ?? (cpu ? Proteus.DType.Float32 : Proteus.DType.BFloat16), seqLens,
                Parameters, Warmup, Iterations);
        }
    }

    private sealed record BenchSettings(
        long Batch, long Heads, long KvHeads, long HeadDim, DType DType, long[] SeqLens, FluxParameters Parameters,
        int Warmup, int Iterations);

    /// <summary>One sequence length's measurement.</summary>
    private sealed record BenchResult(
        long SeqLen, string Mode, long CandidateBound, double MedianMs, double TokensPerSecond, ulong PeakBytes, double[] TimesMs);

    /// <summary>What <c>--json</c> writes.</summary>
    private sealed record BenchReport(
        string LibraryVersion, DeviceInfo Device, [property: JsonPropertyName("dtype")] string DType, long Batch, long Heads, long KvHeads, long HeadDim,
        FluxParameters Parameters, int Warmup, int Iterations, IReadOnlyList<BenchResult> Results);
}
