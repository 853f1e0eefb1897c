using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Proteus.Cli;

/// <summary>
/// The <c>proteus bench</c> command line: every option typed and checked while parsing (ranges, the
/// allowed values, options that need another option, GPU-only options on the CPU), so a bad command
/// line fails before any device is opened, with the reason and the allowed values.
/// </summary>
internal sealed class BenchCommandLine
{
    public static readonly string[] Backends = ["best", "cpu", "cuda", "hip"];
    public static readonly string[] HeadDims = ["8", "16", "32", "64", "80", "96", "128", "256"];
    public static readonly string[] DTypes = ["float32", "float16", "bfloat16"];
    public static readonly string[] Modes = ["dense", "shortlist", "auto"];
    public static readonly string[] LaunchModes = ["auto", "tile", "row", "wgmma"];

    private readonly Option<string?> Backend = Choice("--backend", Backends, "best",
        "The device: best (CUDA, then HIP, then the CPU), cpu, cuda or hip.");
    private readonly Option<long?> Batch = Integer("--batch", 1, "B, the batch size (default 1).");
    private readonly Option<long?> Heads = Integer("--heads", 1, "H, the query heads (default 8 on the CPU, 16 on a GPU).");
    private readonly Option<long?> KvHeads = Integer("--kv-heads", 1, "Hkv, the key/value heads; divides H (default H).");
    private readonly Option<string?> HeadDim = Choice("--head-dim", HeadDims, null, "D, the head dim: 8, 16, 32, 64, 80, 96, 128 or 256 (default 64).");
    private readonly Option<string?> DType = Choice("--dtype", DTypes, null,
        "The element type (default float32 on the CPU, bfloat16 on a GPU).");
    private readonly Option<long[]?> SeqLens = IntegerList("--seq",
        "Sequence lengths T1,T2,... (default 512,1024,2048,4096 on the CPU, the powers of two 1024..65536 on a GPU).");
    private readonly Option<string[]?> SweepModes = ChoiceList("--modes", Modes,
        "Which modes the sweep times at each T: dense (α = 0), shortlist (α = 1: W341 S256 A171) and auto (the " +
        "automatic α schedule and the budgets it derives); default all three.");
    private readonly Option<long?> Window = Integer("--window", 1, "W, the local window: times one explicit budget instead of the modes.");
    private readonly Option<long?> AnchorStride = Integer("--anchor-stride", 1, "S, the anchor stride (needs --anchors).");
    private readonly Option<long?> Anchors = Integer("--anchors", 1, "A, the anchor count (needs --window and --anchor-stride).");
    private readonly Option<long?> Dna = Integer("--dna", 1, "K, the DNA count: K salient tokens before the window (needs --window).");
    private readonly Option<string?> Salience = Choice("--salience", ["random"], null,
        "What DNA ranks tokens by: random (the only source so far; the default with --dna).");
    private readonly Option<long?> ActiveHeads = Integer("--active-heads", 1, "Sparse rows: N random heads of H active at each token (default H).");
    private readonly Option<double?> KeepRatio = Fraction("--keep-ratio",
        "Sparse rows: round(r·T) tokens kept per batch row, token 0 always, the rest at random; r in (0, 1] (default 1).");
    private readonly Option<string?> Suite = Choice("--suite", BenchSuites.SuiteNames.ToArray(), null,
        "A fixed set of cases instead of a sweep (bfloat16, B 1): kernels (dense 16K/64K, shortlist 256K–1M, DNA, " +
        "sparse rows 1M), latency (one call at small T; the DNA and sparse-row paths at 4096) or headdims " +
        "(dense 16K, H 8, D 80, 96, 128, 256).");
    private readonly Option<double?> Scale = Fraction("--scale", "Multiplies every length of the suite by f in (0, 1], e.g. 1/256.");
    private readonly Option<string?> LaunchMode = Choice("--mode", LaunchModes, null, "GPU only: the launch mode (default auto, the heuristic).");
    private readonly Option<long?> BlockQ = Integer("--block-q", 1, "GPU only: query rows per block.");
    private readonly Option<long?> BlockK = Integer("--block-k", 1, "GPU only: keys per tile.");
    private readonly Option<string?> RowsPerWarp = Choice("--rows-per-warp", ["16", "32"], null, "GPU only: rows per warp, 16 or 32.");
    private readonly Option<long?> Stages = Integer("--stages", 1, "GPU only: pipeline stages.");
    private readonly Option<long?> Warmup = Integer("--warmup", 1, "Untimed runs per case, at least 1 (default 2; only the first once they pass a quarter of --budget).", 1000);
    private readonly Option<long?> Iterations = Integer("--iterations", 1, "At most N timed samples per case (default 30).", 100_000);
    private readonly Option<double?> Budget = Seconds("--budget",
        "About s seconds per case, warm-up included (default 1 on the CPU, 3 on a GPU); a case whose one call is longer gets one sample.");
    private readonly Option<double?> CallLimit = Seconds("--call-limit",
        "Skip (and report) a case whose one call is estimated to take longer than s seconds (default 60).");
    private readonly Option<FileInfo?> Json = OutputFile("--json", "Also write the results as JSON (exact shapes, Σ|C(i)|, FLOPs, every sample).");
    private readonly Option<FileInfo?> Csv = OutputFile("--csv", "Also write one CSV line per case.");
    private readonly Option<FileInfo?> Plot = OutputFile("--plot", "Also draw ms and FLOP/s against T, one line per case name, as a PNG.");
    private readonly Option<FileInfo> Sdpa = new("--sdpa")
    {
        Description = "The perf.json of tests/gpu/sdpa_bench.py: draws PyTorch SDPA beside ours (needs --plot).",
        HelpName = "perf.json",
    };

    private readonly Option<long?> Threads = Integer("--threads", 1,
        "CPU only: worker threads of the CPU backend (default PROTEUS_NUM_THREADS, else the hardware threads).", 4096);
    private readonly Option<string?> Layer = Choice("--layer", LayerPresets.Names.ToArray(), null,
        "Time the drop-in attention layer of a preset instead of the kernel (original: the original Proteus benchmark layer; wide: d_model 1024, 16 heads of D 64, DNA on).");
    private readonly Option<bool> Block = new("--block") { Description = "With --layer: also time the whole pre-norm block (norms and MLP)." };
    private readonly Option<bool> UpdateDna = new("--update-dna") { Description = "With --layer: run the DNA update in every call." };
    private readonly Option<bool> Reference = new("--reference")
    {
        Description = "CPU only: run the literal reference kernel (what the tests check against) instead of the tile kernel.",
    };

    /// <summary>The command, its options and its checks; <see cref="Bind"/> reads a parse of it.</summary>
    public BenchCommandLine()
    {
        Command = new Command("bench", "Time flux attention: dense, the shortlist and the automatic α schedule over a sweep of T, or a suite.")
        {
            Backend, Batch, Heads, KvHeads, HeadDim, DType, SeqLens, SweepModes, Window, AnchorStride, Anchors, Dna, Salience,
            ActiveHeads, KeepRatio, Suite, Scale, LaunchMode, BlockQ, BlockK, RowsPerWarp, Stages, Warmup, Iterations, Budget,
            CallLimit, Json, Csv, Plot, Sdpa, Threads, Reference, Layer, Block, UpdateDna,
        };
        Command command = Command;
        Sdpa.AcceptExistingOnly();
        Plot.Validators.Add(result =>
        {
            if (result.GetValue(Plot) is { } file && !file.Extension.Equals(".png", StringComparison.OrdinalIgnoreCase))
            {
                result.AddError($"--plot writes a PNG: give a path ending in .png, not '{file.Name}'");
            }
        });
        command.Validators.Add(CheckCombinations);
        command.SetAction(parsed => parsed.GetValue(Layer) is { } preset ? LayerBench.Run(BindLayer(parsed, preset)) : BenchCommand.Run(Bind(parsed)));
    }

    /// <summary>The <c>bench</c> command.</summary>
    public Command Command { get; }

    private Option[] LaunchOptions => [LaunchMode, BlockQ, BlockK, RowsPerWarp, Stages];

    private Option[] BudgetOptions => [Window, AnchorStride, Anchors, Dna, Salience];

    private Option[] FixedBySuite => [Batch, Heads, KvHeads, HeadDim, DType, SeqLens, SweepModes, .. BudgetOptions, ActiveHeads, KeepRatio];

    /// <summary>The checks between options; each names both options and what to do.</summary>
    private void CheckCombinations(CommandResult result)
    {
        bool Given(Option option) => result.GetResult(option) is { Implicit: false };
        void Needs(Option option, string what, params Option[] any)
        {
            if (Given(option) && !any.Any(Given))
            {
                result.AddError($"{option.Name} {what}: give {string.Join(" or ", any.Select(o => o.Name))}");
            }
        }

        if (Given(Suite))
        {
            string[] fixedOptions = FixedBySuite.Where(Given).Select(option => option.Name).ToArray();
            if (fixedOptions.Length > 0)
            {
                result.AddError($"--suite fixes the shapes, budgets and rows; drop {string.Join(", ", fixedOptions)} (--scale shrinks the lengths)");
            }
        }
        else if (Given(Scale))
        {
            result.AddError("--scale shrinks the lengths of a --suite; without one, give --seq");
        }

        Needs(Anchors, "places anchors at the multiples of the stride", AnchorStride);
        Needs(AnchorStride, "is the spacing of the anchors and does nothing alone", Anchors);
        Needs(Anchors, "counts anchors before the local window", Window);
        Needs(Dna, "picks salient tokens before the local window", Window);
        Needs(Salience, "is what DNA ranks tokens by", Dna);
        if (Given(SweepModes) && BudgetOptions.Any(Given))
        {
            result.AddError("--window/--anchors/--anchor-stride/--dna time one explicit budget; drop --modes, or drop those options");
        }
        if (Given(Heads) && Given(KvHeads) && result.GetValue(Heads) % result.GetValue(KvHeads) != 0)
        {
            result.AddError($"--kv-heads ({result.GetValue(KvHeads)}) must divide --heads ({result.GetValue(Heads)})");
        }
        if (Given(Heads) && Given(ActiveHeads) && result.GetValue(ActiveHeads) > result.GetValue(Heads))
        {
            result.AddError($"--active-heads ({result.GetValue(ActiveHeads)}) exceeds --heads ({result.GetValue(Heads)})");
        }
        if (result.GetValue(Backend) == "cpu" && LaunchOptions.Where(Given).Select(option => option.Name).ToArray() is { Length: > 0 } launch)
        {
            result.AddError($"{string.Join(", ", launch)}: GPU launch options; the CPU backend has one configuration");
        }
        if (Given(Reference) && LaunchOptions.Where(Given).Select(option => option.Name).ToArray() is { Length: > 0 } withReference)
        {
            result.AddError($"--reference runs the CPU reference kernel; drop {string.Join(", ", withReference)}");
        }
        if (result.GetValue(Backend) is "cuda" or "hip" && new Option[] { Threads, Reference }.Where(Given).Select(option => option.Name).ToArray() is { Length: > 0 } cpuOnly)
        {
            result.AddError($"{string.Join(", ", cpuOnly)}: CPU options; --backend {result.GetValue(Backend)} runs on a GPU");
        }
        Needs(Sdpa, "is drawn on the plot", Plot);
        Needs(Block, "times the block beside the layer", Layer);
        Needs(UpdateDna, "runs the layer's DNA update", Layer);
        if (Given(Layer))
        {
            Option[] kernelOnly = [Suite, Scale, Heads, KvHeads, HeadDim, SweepModes, .. BudgetOptions, ActiveHeads, KeepRatio, .. LaunchOptions,
                Warmup, Budget, CallLimit, Csv, Plot, Sdpa, Reference];
            if (kernelOnly.Where(Given).Select(option => option.Name).ToArray() is { Length: > 0 } conflicting)
            {
                result.AddError($"--layer times a preset layer; drop {string.Join(", ", conflicting)} (it takes --backend, --seq, --batch, --dtype, --iterations, --threads, --json)");
            }
        }
    }

    /// <summary>The parsed command line as a layer request (--layer given).</summary>
    private LayerBenchOptions BindLayer(ParseResult parsed, string preset) => new(
        Backend: Bind(parsed).Backend,
        Preset: preset,
        Block: parsed.GetValue(Block),
        SeqLens: parsed.GetValue(SeqLens) is { Length: > 0 } seqLens ? seqLens : null,
        Batch: parsed.GetValue(Batch) ?? 1,
        DType: Bind(parsed).DType,
        Iterations: (int)(parsed.GetValue(Iterations) ?? 5),
        UpdateDna: parsed.GetValue(UpdateDna),
        JsonPath: parsed.GetValue(Json)?.FullName,
        Threads: parsed.GetValue(Threads) is { } threads ? (int)threads : null);

    /// <summary>The parsed command line as a request; call only on a parse without errors.</summary>
    public BenchOptions Bind(ParseResult parsed)
    {
        Proteus.Backend? backend = parsed.GetValue(Backend) switch
        {
            "cpu" => Proteus.Backend.Cpu,
            "cuda" => Proteus.Backend.Cuda,
            "hip" => Proteus.Backend.Hip,
            _ => null,
        };
        FluxParameters? budgets = null;
        if (parsed.GetValue(Window) is { } window)
        {
            budgets = FluxParameters.Dense with
            {
                Window = window,
                AnchorStride = parsed.GetValue(AnchorStride) ?? 0,
                AnchorCount = parsed.GetValue(Anchors) ?? 0,
                DnaCount = parsed.GetValue(Dna) ?? 0,
            };
        }
        LaunchConfig? launch = null;
        if (parsed.GetValue(Reference))
        {
            launch = new LaunchConfig { Mode = Proteus.LaunchMode.Reference };
        }
        else if (LaunchOptions.Any(option => parsed.GetResult(option) is { Implicit: false }))
        {
            launch = new LaunchConfig
            {
                Mode = parsed.GetValue(LaunchMode) switch
                {
                    "tile" => Proteus.LaunchMode.Tile,
                    "row" => Proteus.LaunchMode.Row,
                    "wgmma" => Proteus.LaunchMode.TileWgmma,
                    _ => Proteus.LaunchMode.Auto,
                },
                BlockQ = (int)(parsed.GetValue(BlockQ) ?? 0),
                BlockK = (int)(parsed.GetValue(BlockK) ?? 0),
                RowsPerWarp = parsed.GetValue(RowsPerWarp) is { } rows ? int.Parse(rows, CultureInfo.InvariantCulture) : 0,
                Stages = (int)(parsed.GetValue(Stages) ?? 0),
            };
        }
        return new BenchOptions(
            backend,
            Suite: parsed.GetValue(Suite),
            Scale: parsed.GetValue(Scale),
            Batch: parsed.GetValue(Batch),
            Heads: parsed.GetValue(Heads),
            KvHeads: parsed.GetValue(KvHeads),
            HeadDim: parsed.GetValue(HeadDim) is { } d ? long.Parse(d, CultureInfo.InvariantCulture) : null,
            DType: parsed.GetValue(DType) switch
            {
                "float32" => Proteus.DType.Float32,
                "float16" => Proteus.DType.Float16,
                "bfloat16" => Proteus.DType.BFloat16,
                _ => null,
            },
            // An absent list option reads as an empty array.
            SeqLens: parsed.GetValue(SeqLens) is { Length: > 0 } seqLens ? seqLens : null,
            Modes: parsed.GetValue(SweepModes) is not { Length: > 0 } modes ? null : modes.Select(mode => Enum.Parse<SweepMode>(mode, ignoreCase: true)).Distinct().ToArray(),
            budgets,
            ActiveHeads: parsed.GetValue(ActiveHeads),
            KeepRatio: parsed.GetValue(KeepRatio),
            launch,
            Warmup: (int)(parsed.GetValue(Warmup) ?? 2),
            MaxIterations: (int)(parsed.GetValue(Iterations) ?? 30),
            BudgetSeconds: parsed.GetValue(Budget),
            CallLimitSeconds: parsed.GetValue(CallLimit) ?? 60,
            JsonPath: parsed.GetValue(Json)?.FullName,
            CsvPath: parsed.GetValue(Csv)?.FullName,
            PlotPath: parsed.GetValue(Plot)?.FullName,
            SdpaPath: parsed.GetValue(Sdpa)?.FullName,
            Threads: (int?)parsed.GetValue(Threads));
    }

    private static Option<string?> Choice(string name, string[] choices, string? defaultValue, string description)
    {
        var option = new Option<string?>(name) { Description = description, HelpName = string.Join('|', choices) };
        if (defaultValue is not null)
        {
            option.DefaultValueFactory = _ => defaultValue;
        }
        option.CompletionSources.Add(choices);
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } value && !choices.Contains(value, StringComparer.Ordinal))
            {
                result.AddError($"{name} must be one of {string.Join(", ", choices)}, not '{value}'");
            }
        });
        return option;
    }

    private static Option<long?> Integer(string name, long minimum, string description, long maximum = long.MaxValue)
    {
        var option = new Option<long?>(name) { Description = description, HelpName = "N" };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<long?>() is { } value && (value < minimum || value > maximum))
            {
                result.AddError(maximum == long.MaxValue
                    ? $"{name} must be ≥ {minimum}, not {value}"
                    : $"{name} must be in [{minimum}, {maximum}], not {value}");
            }
        });
        return option;
    }

    private static Option<long[]?> IntegerList(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "T1,T2,...",
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return null;
            }
            var values = new List<long>();
            foreach (string item in result.Tokens.SelectMany(token => token.Value.Split(',', StringSplitOptions.TrimEntries)))
            {
                if (!long.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) || value < 1)
                {
                    result.AddError($"{name} takes positive integers separated by commas, not '{item}'");
                    return null;
                }
                values.Add(value);
            }
            return values.ToArray();
        },
    };

    private static Option<string[]?> ChoiceList(string name, string[] choices, string description) => new(name)
    {
        Description = description,
        HelpName = string.Join(',', choices),
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return null;
            }
            string[] items = result.Tokens.SelectMany(token => token.Value.Split(',', StringSplitOptions.TrimEntries)).ToArray();
            foreach (string item in items.Where(item => !choices.Contains(item, StringComparer.OrdinalIgnoreCase)))
            {
                result.AddError($"{name} takes {string.Join(", ", choices)} separated by commas, not '{item}'");
                return null;
            }
            return items;
        },
    };

    /// <summary>A number in (0, 1], written as a decimal ("0.2") or a fraction ("1/64").</summary>
    private static Option<double?> Fraction(string name, string description) => Real(name, description, "r", 1);

    /// <summary>Seconds in (0, 86400].</summary>
    private static Option<double?> Seconds(string name, string description) => Real(name, description, "s", 86_400);

    private static Option<double?> Real(string name, string description, string helpName, double atMost) => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return null;
            }
            string text = result.Tokens[0].Value;
            string[] parts = text.Split('/', StringSplitOptions.TrimEntries);
            double value = double.NaN;
            if (parts.Length is 1 or 2 && parts.All(part => double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
            {
                value = parts.Select(part => double.Parse(part, CultureInfo.InvariantCulture)).Aggregate((a, b) => a / b);
            }
            if (!(value > 0 && value <= atMost))
            {
                result.AddError($"{name} takes a number in (0, {atMost.ToString(CultureInfo.InvariantCulture)}] (a decimal or p/q), not '{text}'");
                return null;
            }
            return value;
        },
    };

    private static Option<FileInfo?> OutputFile(string name, string description)
    {
        var option = new Option<FileInfo?>(name) { Description = description, HelpName = "PATH" };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<FileInfo?>() is { } file && file.Directory is { Exists: false } folder)
            {
                result.AddError($"{name}: the folder {folder.FullName} does not exist");
            }
        });
        return option;
    }
}
