using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Proteus.Tuning;
using Spectre.Console;

namespace Proteus.Cli;

/// <summary>
/// <c>proteus tune</c>: tunes the launch configuration of each case of a suite (or of the given shapes) on
/// the best device with <see cref="FluxTuner"/>, writes the winners to the tuning cache, and prints the
/// heuristic's and the tuned time of each case with the configuration chosen. <c>--show</c> lists the
/// cache; <c>--clear</c> empties it.
/// </summary>
internal static class TuneCommand
{
    public static Command Create()
    {
        var suite = new Option<string>("--suite") { Description = "The cases to tune: a bench suite (kernels, latency). Default: kernels, unless --seq is given." };
        suite.AcceptOnlyFromAmong([.. BenchSuites.SuiteNames]);
        var scale = new Option<double>("--scale") { Description = "Multiplies every T of the suite (a smoke run on a slow device).", DefaultValueFactory = _ => 1.0 };
        var seq = new Option<long[]>("--seq") { Description = "Tune these T instead of a suite (with --heads, --head-dim, --dtype, --window, --anchors, --stride, --dna).", AllowMultipleArgumentsPerToken = true };
        var heads = new Option<long>("--heads") { DefaultValueFactory = _ => 16, Description = "H (and Hkv) of the --seq cases." };
        var headDim = new Option<long>("--head-dim") { DefaultValueFactory = _ => 64, Description = "D of the --seq cases." };
        var dtype = new Option<string>("--dtype") { DefaultValueFactory = _ => "bfloat16", Description = "Element type of the --seq cases." };
        dtype.AcceptOnlyFromAmong(BenchCommandLine.DTypes);
        var window = new Option<long>("--window") { Description = "W of the --seq cases (default: dense)." };
        var anchors = new Option<long>("--anchors") { Description = "A of the --seq cases (with --stride)." };
        var stride = new Option<long>("--stride") { DefaultValueFactory = _ => 256, Description = "Anchor stride S." };
        var dna = new Option<long>("--dna") { Description = "K of the --seq cases (random salience)." };
        var budget = new Option<double>("--budget") { DefaultValueFactory = _ => 4.0, Description = "Seconds of tuning per case." };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "The cache directory (default: $PROTEUS_CACHE_DIR, else $XDG_CACHE_HOME/proteus, else ~/.cache/proteus)." };
        var show = new Option<bool>("--show") { Description = "List the cache's entries (every environment) and exit." };
        var clear = new Option<bool>("--clear") { Description = "Remove every entry of the cache and exit." };
        var command = new Command("tune", "Tunes launch configurations on the best device and caches the winners (SPEC §8).")
        {
            suite, scale, seq, heads, headDim, dtype, window, anchors, stride, dna, budget, cacheDir, show, clear,
        };
        command.SetAction(parsed =>
        {
            var cache = new TuningCache(parsed.GetValue(cacheDir));
            if (parsed.GetValue(show))
            {
                return Show(cache);
            }
            if (parsed.GetValue(clear))
            {
                int removed = cache.Clear();
                Console.WriteLine($"removed {removed} entries from {cache.FilePath}");
                return 0;
            }
            long[] seqLens = parsed.GetValue(seq) ?? [];
            IReadOnlyList<BenchCase> cases = seqLens.Length > 0 && parsed.GetValue(suite) is null
                ? seqLens.Select(t => new BenchCase("shape", t, 1, parsed.GetValue(heads), parsed.GetValue(heads), parsed.GetValue(headDim),
                    parsed.GetValue(dtype) switch { "float32" => DType.Float32, "float16" => DType.Float16, _ => DType.BFloat16 },
                    FluxParameters.Dense with
                    {
                        Window = parsed.GetValue(window) is > 0 and var w ? w : FluxParameters.Dense.Window,
                        AnchorCount = parsed.GetValue(anchors),
                        AnchorStride = parsed.GetValue(stride),
                        DnaCount = parsed.GetValue(dna),
                    }, null, null)).ToArray()
                : BenchSuites.Create(parsed.GetValue(suite) ?? "kernels", parsed.GetValue(scale), null);
            double seconds = parsed.GetValue(budget);
            if (seconds <= 0)
            {
                throw new UsageException("--budget must be positive");
            }
            return Tune(cases, cache, TimeSpan.FromSeconds(seconds));
        });
        return command;
    }

    private static int Tune(IReadOnlyList<BenchCase> cases, TuningCache cache, TimeSpan budget)
    {
        using Device device = Device.OpenBest();
        var attention = new FluxAttention(device) { Tuning = TuningMode.Off };
        var tuner = new FluxTuner(new FluxTunerOptions { Budget = budget, Timing = new FluxTimingOptions { Warmup = 2, Repeats = 7 } });
        TuningEnvironment environment = TuningEnvironment.Of(device);
        var results = new List<(BenchCase Case, TuningResult Result)>();
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"tuning {cases.Count} cases on {device} ({environment})");
        void TuneAll(Action<BenchCase, TuningProgress>? report)
        {
            foreach (BenchCase benchCase in cases)
            {
                TuningResult result = TuneCase(device, attention, tuner, benchCase,
                    new Progress(p => report?.Invoke(benchCase, p)));
                cache.Put(environment, KeyOf(benchCase), result.ToTunedLaunch());
                results.Add((benchCase, result));
            }
        }
        if (Console.IsOutputRedirected)
        {
            TuneAll(null);
        }
        else
        {
            AnsiConsole.Progress().Start(context =>
            {
                var tasks = cases.ToDictionary(c => c, c => context.AddTask(Markup.Escape($"{c.Name} T={c.SeqLen}"), autoStart: false));
                TuneAll((c, p) =>
                {
                    ProgressTask task = tasks[c];
                    task.StartTask();
                    task.MaxValue = p.Total;
                    task.Value = p.Done;
                });
                foreach (ProgressTask task in tasks.Values)
                {
                    task.Value = task.MaxValue;
                }
            });
        }
        WriteTable(results);
        Console.WriteLine($"{results.Count} cases tuned in {clock.Elapsed.TotalSeconds:0.0} s; written to {cache.FilePath}");
        return 0;
    }

    internal static TuningKey KeyOf(BenchCase c) => TuningKey.Of(new FluxSignature(
        c.DType, c.Batch, (int)c.Heads, (int)c.KvHeads, c.SeqLen, c.SeqLen, (int)c.HeadDim, c.Parameters, null, c.Activity is not null, c.ActiveDensity));

    private static TuningResult TuneCase(Device device, FluxAttention attention, FluxTuner tuner, BenchCase c, IProgress<TuningProgress> progress) => c.DType switch
    {
        DType.Float32 => TuneCase(device, attention, tuner, c, progress, x => x),
        DType.Float16 => TuneCase(device, attention, tuner, c, progress, x => (Half)x),
        _ => TuneCase(device, attention, tuner, c, progress, x => (BFloat16)x),
    };

    private static TuningResult TuneCase<T>(Device device, FluxAttention attention, FluxTuner tuner, BenchCase c, IProgress<TuningProgress> progress, Func<float, T> convert)
        where T : unmanaged
    {
        var random = new Random(20240601);
        long qLength = c.Batch * c.Heads * c.SeqLen * c.HeadDim, kvLength = c.Batch * c.KvHeads * c.SeqLen * c.HeadDim;
        T[] pool = BenchCommand.RandomValues((int)Math.Min(BenchCommand.RandomPoolLength, qLength), random, convert);
        using DeviceBuffer<T> query = BenchCommand.RandomBuffer(device, qLength, pool, random);
        using DeviceBuffer<T> key = BenchCommand.RandomBuffer(device, kvLength, pool, random);
        using DeviceBuffer<T> value = BenchCommand.RandomBuffer(device, kvLength, pool, random);
        using DeviceBuffer<T> output = device.Allocate<T>(qLength);
        using DeviceBuffer<float>? salience = c.Parameters.DnaCount > 0
            ? device.Upload<float>(BenchCommand.RandomValues(BenchCommand.HostLength(c.Batch * c.SeqLen), random, x => x)) : null;
        using DeviceBuffer<byte>? active = c.Activity is { } activity ? device.Upload<byte>(BenchCommand.ActiveRows(c, activity, random)) : null;
        var inputs = new FluxInputs<T>
        {
            Query = TensorLayouts.Bhtd(query, c.Batch, c.Heads, c.SeqLen, c.HeadDim),
            Key = TensorLayouts.Bhtd(key, c.Batch, c.KvHeads, c.SeqLen, c.HeadDim),
            Value = TensorLayouts.Bhtd(value, c.Batch, c.KvHeads, c.SeqLen, c.HeadDim),
            Output = TensorLayouts.Bhtd(output, c.Batch, c.Heads, c.SeqLen, c.HeadDim),
            Active = active is null ? null : new TensorView<byte>(active, [c.Batch, c.Heads, c.SeqLen]),
            Salience = salience is null ? null : new TensorView<float>(salience, [c.Batch, c.SeqLen]),
            ActiveDensity = c.ActiveDensity,
        };
        return tuner.Tune(attention, inputs, c.Parameters, progress);
    }

    private static void WriteTable(List<(BenchCase Case, TuningResult Result)> results)
    {
        var table = new Table().AddColumns("case", "T", "default ms", "tuned ms", "speed-up", "configuration", "candidates");
        foreach ((BenchCase c, TuningResult r) in results)
        {
            string configuration = r.HeuristicBest ? "heuristic already best" : Label(r.Chosen);
            table.AddRow(Markup.Escape(c.Name), c.SeqLen.ToString(CultureInfo.InvariantCulture), Ms(r.HeuristicMs), Ms(r.ChosenMs),
                $"{r.SpeedUp:0.00}×", Markup.Escape(configuration),
                Markup.Escape($"{r.Timed} timed / {r.Candidates}{(r.Rejected.Count > 0 ? $", {r.Rejected.Count} rejected" : "")}{(r.BudgetSpent ? ", budget spent" : "")}"));
        }
        AnsiConsole.Write(table);
    }

    private static int Show(TuningCache cache)
    {
        IReadOnlyList<TuningCacheSection> sections = cache.ReadAll();
        Console.WriteLine($"{cache.FilePath}: {sections.Sum(s => s.Entries.Count)} entries in {sections.Count} environments");
        TuningEnvironment? here = null;
        try
        {
            using Device device = Device.OpenBest();
            here = TuningEnvironment.Of(device);
        }
        catch (DllNotFoundException)
        {
        }
        foreach (TuningCacheSection section in sections)
        {
            Console.WriteLine();
            Console.WriteLine($"{section.Environment}{(section.Environment == here ? "  [this machine]" : "")}");
            var table = new Table().AddColumns("key", "configuration", "tuned ms", "default ms", "speed-up");
            foreach (TuningCacheEntry entry in section.Entries)
            {
                table.AddRow(Markup.Escape(entry.Key.ToString()), Markup.Escape(entry.Tuned.Heuristic ? "heuristic" : Label(entry.Tuned.Launch)),
                    Ms(entry.Tuned.TunedMs), Ms(entry.Tuned.DefaultMs), $"{entry.Tuned.SpeedUp:0.00}×");
            }
            AnsiConsole.Write(table);
        }
        return 0;
    }

    private static string Label(LaunchConfig launch) => new BenchCase("", 1, 1, 1, 1, 1, DType.Float32, FluxParameters.Dense, null, launch).LaunchLabel;

    private static string Ms(double ms) => ms.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Reports on the tuning thread, so that the progress bar follows the candidates as they are timed.</summary>
    private sealed class Progress(Action<TuningProgress> report) : IProgress<TuningProgress>
    {
        public void Report(TuningProgress value) => report(value);
    }
}
