using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Proteus;
using TorchSharp;

namespace Proteus.Benchmarks.Cpu;

/// <summary>
/// libtorch's scaled_dot_product_attention (TorchSharp-cpu) against the Proteus CPU backend, side by side
/// on one thread count: float32 B 1 H 8 D 64 causal. See README.md beside this file.
/// </summary>
internal static class Program
{
    private const int Batch = 1, Heads = 8, HeadDim = 64;

    /// <summary>The Aligned shortlist of the acceptance line: W 341, S 256, A 171.</summary>
    private static readonly FluxParameters Shortlist =
        FluxParameters.Dense with { Window = 341, AnchorStride = 256, AnchorCount = 171 };

    private static int Main(string[] args)
    {
        Options options;
        try
        {
            options = Options.Parse(args);
        }
        catch (ArgumentException error)
        {
            Console.Error.WriteLine(error.Message);
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }
        if (options.Help)
        {
            Console.WriteLine(Options.Usage);
            return 0;
        }
        return Run(options);
    }

    private static int Run(Options options)
    {
        torch.set_num_threads(options.Threads);
        torch.set_num_interop_threads(1);
        int torchThreads = torch.get_num_threads();

        using var device = Device.Open(Backend.Cpu);
        int proteusThreads = ConfigureProteusThreads(device, options.Threads, out string threadSource);
        if (torchThreads != options.Threads || proteusThreads != options.Threads)
        {
            Console.Error.WriteLine(
                $"thread counts differ: asked {options.Threads}, libtorch uses {torchThreads}, Proteus uses {proteusThreads} " +
                $"({threadSource}); run through run.sh, which sets PROTEUS_NUM_THREADS and OMP_NUM_THREADS");
            return 1;
        }

        var attention = new FluxAttention(device);
        var rows = new List<Row>();
        Console.WriteLine(
            $"CPU: {Environment.ProcessorCount} hardware threads; {options.Threads} threads each (libtorch {torch.__version__}, " +
            $"TorchSharp {typeof(torch).Assembly.GetName().Version}; Proteus {device.Info.Name}, threads via {threadSource})");
        Console.WriteLine($"B {Batch} H {Heads} D {HeadDim} causal; median of timed runs after warm-up, implementations timed in turn; ratio = libtorch ms / Proteus ms");
        Console.WriteLine();
        PrintHeader();

        using (torch.no_grad())
        {
            foreach (long t in options.Dense)
            {
                var data = Inputs.Create(t, options.Seed);
                using var libtorch = TorchRunner(data);
                using var ours = ProteusRunner<float>(device, attention, data, FluxParameters.Dense, x => x, x => x);
                var halves = options.HalfTypes.Select(d => HalfRunner(device, attention, data, FluxParameters.Dense, d)).ToList();
                var timings = MeasureInterleaved([libtorch, ours, .. halves], options.Warmup, options.MaxSamples, options.BudgetMs);
                float[] reference = libtorch.Output();
                rows.Add(Print(new Row("dense", "float32", t, timings[0], timings[1], MaxAbsDiff(reference, ours.Output()))));
                for (int h = 0; h < halves.Count; h++)
                {
                    rows.Add(Print(new Row("dense", halves[h].Name, t, null, timings[2 + h], MaxAbsDiff(reference, halves[h].Output()), timings[1].MedianMs)));
                    halves[h].Dispose();
                }
            }

            foreach (long t in options.Long)
            {
                var data = Inputs.Create(t, options.Seed);
                using var ours = ProteusRunner<float>(device, attention, data, Shortlist, x => x, x => x);
                var halves = options.HalfTypes.Select(d => HalfRunner(device, attention, data, Shortlist, d)).ToList();
                var timings = MeasureInterleaved([ours, .. halves], options.Warmup, options.MaxSamples, options.BudgetMs);
                // The dense libtorch call at long T costs seconds to minutes: its warm-up is the earlier rows'
                // (same kernel), and it is timed over fewer runs, after the Proteus runs.
                Timing? torchTiming = null;
                if (options.LongTorchRuns > 0)
                {
                    using var libtorch = TorchRunner(data);
                    torchTiming = MeasureInterleaved([libtorch], 0, options.LongTorchRuns, 0)[0];
                }
                rows.Add(Print(new Row("shortlist W341 S256 A171 vs dense", "float32", t, torchTiming, timings[0], null)));
                for (int h = 0; h < halves.Count; h++)
                {
                    rows.Add(Print(new Row("shortlist W341 S256 A171", halves[h].Name, t, null, timings[1 + h], null, timings[0].MedianMs)));
                    halves[h].Dispose();
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine("ratio: libtorch ms / Proteus ms (Proteus throughput over libtorch's); for float16/bfloat16 rows,");
        Console.WriteLine("  'vs f32' is Proteus float32 ms / this dtype's ms (≥ 0.77 means within 1.3× of float32).");
        Console.WriteLine("max|Δ|: largest absolute difference from libtorch's float32 output (dense rows).");
        Console.WriteLine("GFLOP/s: dense causal FLOPs (4·B·H·D·T(T+1)/2) per second; not given for the shortlist's Proteus time.");

        string json = JsonSerializer.Serialize(new Report(
            DateTimeOffset.UtcNow, Environment.MachineName, Environment.ProcessorCount, options.Threads,
            torch.__version__, typeof(torch).Assembly.GetName().Version?.ToString() ?? "?", device.Info.Name, threadSource,
            Batch, Heads, HeadDim, rows), new JsonSerializerOptions { WriteIndented = true });
        string? folder = Path.GetDirectoryName(Path.GetFullPath(options.JsonPath));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }
        File.WriteAllText(options.JsonPath, json);
        Console.WriteLine($"wrote {Path.GetFullPath(options.JsonPath)}");
        return 0;
    }

    /// <summary>
    /// Sets the Proteus worker count through <c>Device.Threads</c> where the library has it; older trees read
    /// PROTEUS_NUM_THREADS when the context opens (set by run.sh: .NET cannot change the native environment).
    /// </summary>
    private static int ConfigureProteusThreads(Device device, int threads, out string source)
    {
        PropertyInfo? property = typeof(Device).GetProperty("Threads", typeof(int));
        if (property is { CanRead: true, CanWrite: true })
        {
            property.SetValue(device, threads);
            source = "Device.Threads";
            return (int)property.GetValue(device)!;
        }
        source = "PROTEUS_NUM_THREADS";
        string? text = Environment.GetEnvironmentVariable("PROTEUS_NUM_THREADS");
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : Environment.ProcessorCount;
    }

    /// <summary>libtorch's SDPA, dense causal float32.</summary>
    private static Runner TorchRunner(Inputs data)
    {
        long[] shape = [Batch, Heads, data.SeqLen, HeadDim];
        var q = torch.tensor(data.Query, shape);
        var k = torch.tensor(data.Key, shape);
        var v = torch.tensor(data.Value, shape);
        torch.Tensor? last = null;
        return new Runner(
            "libtorch",
            () =>
            {
                last?.Dispose();
                last = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);
            },
            () => last!.data<float>().ToArray(),
            () =>
            {
                last?.Dispose();
                q.Dispose();
                k.Dispose();
                v.Dispose();
            });
    }

    /// <summary>Proteus' FluxAttention on the CPU device, inputs converted to <typeparamref name="T"/> once.</summary>
    private static Runner ProteusRunner<T>(
        Device device, FluxAttention attention, Inputs data, FluxParameters parameters, Func<float, T> convert, Func<T, float> back)
        where T : unmanaged
    {
        long count = (long)Batch * Heads * data.SeqLen * HeadDim;
        var q = device.Upload<T>(Array.ConvertAll(data.Query, x => convert(x)));
        var k = device.Upload<T>(Array.ConvertAll(data.Key, x => convert(x)));
        var v = device.Upload<T>(Array.ConvertAll(data.Value, x => convert(x)));
        var o = device.Allocate<T>(count);
        var inputs = new FluxInputs<T>
        {
            Query = TensorLayouts.Bhtd(q, Batch, Heads, data.SeqLen, HeadDim),
            Key = TensorLayouts.Bhtd(k, Batch, Heads, data.SeqLen, HeadDim),
            Value = TensorLayouts.Bhtd(v, Batch, Heads, data.SeqLen, HeadDim),
            Output = TensorLayouts.Bhtd(o, Batch, Heads, data.SeqLen, HeadDim),
        };
        return new Runner(
            DTypeName<T>(),
            () =>
            {
                attention.Run(inputs, parameters);
                device.Synchronize();
            },
            () => Array.ConvertAll(o.ToArray(), x => back(x)),
            () =>
            {
                q.Dispose();
                k.Dispose();
                v.Dispose();
                o.Dispose();
            });
    }

    private static string DTypeName<T>() =>
        typeof(T) == typeof(float) ? "float32" : typeof(T) == typeof(Half) ? "float16" : typeof(T) == typeof(BFloat16) ? "bfloat16" : typeof(T).Name;

    private static Runner HalfRunner(Device device, FluxAttention attention, Inputs data, FluxParameters parameters, string dtype) =>
        dtype switch
        {
            "float16" => ProteusRunner<Half>(device, attention, data, parameters, x => (Half)x, x => (float)x),
            "bfloat16" => ProteusRunner<BFloat16>(device, attention, data, parameters, x => (BFloat16)x, x => (float)x),
            _ => throw new ArgumentException($"unknown dtype {dtype}"),
        };

    /// <summary>
    /// Warm-up runs of each runner, then timed runs taken in turn (A B C A B C …) so that every runner sees the
    /// same load on a shared machine: at least 3 rounds (fewer only when <paramref name="maxSamples"/> is smaller),
    /// then more while the budget lasts, up to <paramref name="maxSamples"/>.
    /// </summary>
    private static Timing[] MeasureInterleaved(IReadOnlyList<Runner> runners, int warmup, int maxSamples, double budgetMs)
    {
        var clock = new Stopwatch();
        foreach (var runner in runners)
        {
            for (int w = 0; w < warmup; w++)
            {
                runner.Call();
            }
        }
        var samples = runners.Select(_ => new List<double>()).ToArray();
        double spent = 0, round = 0;
        int rounds = 0;
        while (rounds < maxSamples && (rounds < 3 || spent + round <= budgetMs))
        {
            round = 0;
            for (int r = 0; r < runners.Count; r++)
            {
                clock.Restart();
                runners[r].Call();
                double ms = clock.Elapsed.TotalMilliseconds;
                samples[r].Add(ms);
                round += ms;
            }
            spent += round;
            rounds++;
        }
        return [.. samples.Select(list =>
        {
            double[] sorted = [.. list.Order()];
            int middle = sorted.Length / 2;
            double median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
            return new Timing(warmup, sorted.Length, median, sorted[0], sorted[^1], [.. list]);
        })];
    }

    private static double MaxAbsDiff(float[] expected, float[] actual)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)expected[i] - actual[i]));
        }
        return worst;
    }

    private static void PrintHeader()
    {
        Console.WriteLine(
            $"{"case",-34} {"dtype",-8} {"T",6} {"libtorch ms",11} {"GFLOP/s",7} {"Proteus ms",10} {"min–max",13} {"GFLOP/s",7} " +
            $"{"ratio",6} {"vs f32",6} {"max|Δ|",7}");
    }

    private static Row Print(Row row)
    {
        string Ms(double? ms) => ms is null ? "—" : ms.Value.ToString(ms.Value < 100 ? "F2" : "F0", CultureInfo.InvariantCulture);
        string Ratio(double? r) => r is null ? "—" : r.Value.ToString("F2", CultureInfo.InvariantCulture) + "×";
        string spread = $"{Ms(row.Proteus.MinMs)}–{Ms(row.Proteus.MaxMs)}";
        string gflops = row.Case == "dense" ? row.ProteusGflops.ToString("F1", CultureInfo.InvariantCulture) : "—";
        string torchGflops = row.LibtorchGflops is null ? "—" : row.LibtorchGflops.Value.ToString("F1", CultureInfo.InvariantCulture);
        string diff = row.MaxAbsDiff is null ? "—" : row.MaxAbsDiff.Value.ToString("0.0e+0", CultureInfo.InvariantCulture);
        Console.WriteLine(
            $"{row.Case,-34} {row.DType,-8} {row.SeqLen,6} {Ms(row.Libtorch?.MedianMs),11} {torchGflops,7} {Ms(row.Proteus.MedianMs),10} {spread,13} " +
            $"{gflops,7} {Ratio(row.RatioVsLibtorch),6} {Ratio(row.RatioVsFloat32),6} {diff,7}");
        return row;
    }
}

/// <summary>Q, K, V for one sequence length: uniform in [-1, 1) from a fixed seed, [B, H, T, D] row-major.</summary>
internal sealed record Inputs(long SeqLen, float[] Query, float[] Key, float[] Value)
{
    public static Inputs Create(long seqLen, int seed)
    {
        long count = 1L * 8 * seqLen * 64;
        var random = new Random(seed);
        float[] Fill()
        {
            var values = new float[count];
            for (long i = 0; i < count; i++)
            {
                values[i] = (float)(random.NextDouble() * 2 - 1);
            }
            return values;
        }
        return new Inputs(seqLen, Fill(), Fill(), Fill());
    }
}

/// <summary>One implementation at one case: a call (synchronous), its output as float32, and its cleanup.</summary>
internal sealed class Runner(string name, Action call, Func<float[]> output, Action dispose) : IDisposable
{
    public string Name { get; } = name;

    public void Call() => call();

    public float[] Output() => output();

    public void Dispose() => dispose();
}

/// <summary>One case's timing in milliseconds.</summary>
internal sealed record Timing(int WarmupRuns, int Samples, double MedianMs, double MinMs, double MaxMs, double[] SampleMs);

/// <summary>One table row. Libtorch is dense float32 SDPA at the same T; float32Ms is Proteus float32 for the same case.</summary>
internal sealed record Row(string Case, string DType, long SeqLen, Timing? Libtorch, Timing Proteus, double? MaxAbsDiff, double? Float32Ms = null)
{
    /// <summary>Dense causal FLOPs: Q·Kᵀ and P·V over the T(T+1)/2 visible pairs, 2 FLOPs per multiply-add.</summary>
    public double DenseFlops => 4.0 * 1 * 8 * 64 * SeqLen * (SeqLen + 1) / 2;

    public double? LibtorchGflops => Libtorch is null ? null : DenseFlops / (Libtorch.MedianMs * 1e6);

    /// <summary>Dense FLOPs per second for dense rows (for the shortlist rows it would overstate the work).</summary>
    public double ProteusGflops => DenseFlops / (Proteus.MedianMs * 1e6);

    public double ProteusTokensPerSecond => SeqLen / (Proteus.MedianMs / 1000);

    public double? LibtorchTokensPerSecond => Libtorch is null ? null : SeqLen / (Libtorch.MedianMs / 1000);

    public double? RatioVsLibtorch => Libtorch is null ? null : Libtorch.MedianMs / Proteus.MedianMs;

    public double? RatioVsFloat32 => Float32Ms is null ? null : Float32Ms / Proteus.MedianMs;
}

internal sealed record Report(
    DateTimeOffset When, string Machine, int HardwareThreads, int Threads, string LibtorchVersion, string TorchSharpVersion,
    string ProteusDevice, string ProteusThreadsVia, int Batch, int Heads, int HeadDim, IReadOnlyList<Row> Rows);

internal sealed class Options
{
    public const string Usage =
        """
        usage: Proteus.Benchmarks.Cpu [options]   (run it through run.sh: see README.md)
          --threads N        threads for libtorch and Proteus (default 2)
          --dense LIST       dense sequence lengths (default 256,512,1024,2048,4096; 'none' for none)
          --long LIST        shortlist sequence lengths, against libtorch dense (default 65536; 'none' for none)
          --long-torch-runs N  timed libtorch dense runs at the long lengths, no warm-up (default 1; 0 skips)
          --half LIST        Proteus dtypes compared with its float32 (default float16,bfloat16; 'none' for none)
          --warmup N         warm-up runs per case and implementation (default 1)
          --samples N        most timed rounds per case (default 9; at least 3, more while the budget lasts)
          --budget-ms MS     time budget for a case's rounds after the first 3 (default 4000)
          --seed N           input seed (default 11)
          --json FILE        where the results go (default cpu-vs-libtorch.json)
        """;

    public bool Help { get; private set; }
    public int Threads { get; private set; } = 2;
    public long[] Dense { get; private set; } = [256, 512, 1024, 2048, 4096];
    public long[] Long { get; private set; } = [65536];
    public int LongTorchRuns { get; private set; } = 1;
    public string[] HalfTypes { get; private set; } = ["float16", "bfloat16"];
    public int Warmup { get; private set; } = 1;
    public int MaxSamples { get; private set; } = 9;
    public double BudgetMs { get; private set; } = 4000;
    public int Seed { get; private set; } = 11;
    public string JsonPath { get; private set; } = "cpu-vs-libtorch.json";

    public static Options Parse(string[] args)
    {
        var options = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
            int Int(int min) => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min
                ? v : throw new ArgumentException($"{name} takes a whole number ≥ {min}");
            long[] Lengths()
            {
                string text = Value();
                return text == "none" ? [] : [.. text.Split(',').Select(s =>
                    long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long v) && v >= 1
                        ? v : throw new ArgumentException($"{name}: '{s}' is not a sequence length"))];
            }
            switch (name)
            {
                case "-h" or "--help": options.Help = true; break;
                case "--threads": options.Threads = Int(1); break;
                case "--dense": options.Dense = Lengths(); break;
                case "--long": options.Long = Lengths(); break;
                case "--long-torch-runs": options.LongTorchRuns = Int(0); break;
                case "--half":
                    string text = Value();
                    options.HalfTypes = text == "none" ? [] : text.Split(',');
                    foreach (string t in options.HalfTypes)
                    {
                        if (t is not ("float16" or "bfloat16"))
                        {
                            throw new ArgumentException($"--half: '{t}' is not float16 or bfloat16");
                        }
                    }
                    break;
                case "--warmup": options.Warmup = Int(0); break;
                case "--samples": options.MaxSamples = Int(1); break;
                case "--budget-ms": options.BudgetMs = Int(1); break;
                case "--seed": options.Seed = Int(0); break;
                case "--json": options.JsonPath = Value(); break;
                default: throw new ArgumentException($"unknown option {name}");
            }
        }
        return options;
    }
}
