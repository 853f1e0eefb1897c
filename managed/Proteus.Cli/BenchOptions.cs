namespace Proteus.Cli;

/// <summary>
/// The <c>proteus bench</c> command line: either a sweep of sequence lengths over one shape, budget
/// and row activity, or a named suite of fixed cases (<c>--suite</c>), plus the launch configuration
/// and how long to time each case. Defaults that depend on the device come from <see cref="Cases"/>.
/// </summary>
internal sealed record BenchOptions(
    Backend? Backend, string? Suite, double? Scale, long? Batch, long? Heads, long? KvHeads, long? HeadDim, DType? DType,
    long[]? SeqLens, FluxParameters? Budgets, long? ActiveHeads, double? KeepRatio, LaunchConfig? Launch,
    int Warmup, int MaxIterations, double BudgetSeconds, string? JsonPath)
{
    /// <summary>The <c>--shortlist</c> budgets: the Seed policy's saturated budgets (W 341, S 256, A 171) for L = 512 (SPEC Appendix A).</summary>
    private static readonly FluxParameters ShortlistBudgets = FluxParameters.Dense with { Window = 341, AnchorStride = 256, AnchorCount = 171 };

    private static readonly Dictionary<string, DType> DTypes = new()
    {
        ["float32"] = Proteus.DType.Float32,
        ["float16"] = Proteus.DType.Float16,
        ["bfloat16"] = Proteus.DType.BFloat16,
    };

    private static readonly Dictionary<string, LaunchMode> LaunchModes = new()
    {
        ["auto"] = LaunchMode.Auto,
        ["tile"] = LaunchMode.Tile,
        ["row"] = LaunchMode.Row,
    };

    /// <summary>Salience sources for DNA; only random values exist so far, the option names the choice in the results.</summary>
    private static readonly Dictionary<string, bool> Saliences = new() { ["random"] = true };

    public static BenchOptions Parse(CommandLine options)
    {
        Backend? backend = (options.Text("backend")?.ToLowerInvariant() ?? "best") switch
        {
            "best" => null,
            "cpu" => Proteus.Backend.Cpu,
            "cuda" => Proteus.Backend.Cuda,
            "hip" => Proteus.Backend.Hip,
            var other => throw new UsageException($"--backend must be one of cpu, cuda, hip, best, not '{other}'"),
        };

        bool shortlist = options.Flag("shortlist");
        long? window = options.Integer("window", 1);
        long? anchorStride = options.Integer("anchor-stride", 1);
        long? anchors = options.Integer("anchors", 0);
        long? dna = options.Integer("dna", 0);
        options.Choice("salience", Saliences);
        FluxParameters? budgets = null;
        if (shortlist || window is not null || anchorStride is not null || anchors is not null || dna is not null)
        {
            FluxParameters start = shortlist ? ShortlistBudgets : FluxParameters.Dense;
            budgets = start with
            {
                Window = window ?? start.Window,
                AnchorStride = anchorStride ?? start.AnchorStride,
                AnchorCount = anchors ?? start.AnchorCount,
                DnaCount = dna ?? start.DnaCount,
            };
            if (budgets.AnchorCount > 0 && budgets.AnchorStride == 0)
            {
                throw new UsageException("--anchors needs --anchor-stride");
            }
        }

        LaunchMode? mode = options.Choice("mode", LaunchModes);
        long? blockQ = options.Integer("block-q", 0, int.MaxValue);
        long? blockK = options.Integer("block-k", 0, int.MaxValue);
        long? rowsPerWarp = options.Integer("rows-per-warp", 0, int.MaxValue);
        long? stages = options.Integer("stages", 0, int.MaxValue);
        LaunchConfig? launch = mode is null && blockQ is null && blockK is null && rowsPerWarp is null && stages is null
            ? null
            : new LaunchConfig
            {
                Mode = mode ?? LaunchMode.Auto,
                BlockQ = (int)(blockQ ?? 0),
                BlockK = (int)(blockK ?? 0),
                RowsPerWarp = (int)(rowsPerWarp ?? 0),
                Stages = (int)(stages ?? 0),
            };

        var request = new BenchOptions(
            backend,
            Suite: options.Text("suite"),
            Scale: options.Real("scale", 0, 1),
            Batch: options.Integer("batch", 1),
            Heads: options.Integer("heads", 1),
            KvHeads: options.Integer("kv-heads", 1),
            HeadDim: options.Integer("head-dim", 1),
            DType: options.Choice("dtype", DTypes),
            SeqLens: options.IntegerList("seq", 1),
            budgets,
            ActiveHeads: options.Integer("active-heads", 1),
            KeepRatio: options.Real("keep-ratio", 0, 1),
            launch,
            Warmup: (int)(options.Integer("warmup", 1, 1000) ?? 2),
            MaxIterations: (int)(options.Integer("iterations", 1, 100_000) ?? 30),
            BudgetSeconds: options.Real("budget", 0, 3600) ?? 3,
            JsonPath: options.Text("json"));
        options.RejectUnknown();
        request.CheckCombinations();
        if (request.JsonPath is { } path && Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder && !Directory.Exists(folder))
        {
            throw new UsageException($"--json: the folder {folder} does not exist");
        }
        return request;
    }

    /// <summary>
    /// The cases to run on a device of <paramref name="backend"/>. Without a suite: one case per length,
    /// with CPU defaults (float32, T up to 2048) that keep the run well under a minute on a 2-core
    /// machine, and GPU defaults that sweep 1K to 64K tokens in bfloat16.
    /// </summary>
    public IReadOnlyList<BenchCase> Cases(Backend backend)
    {
        if (Suite is { } suite)
        {
            return BenchSuites.Create(suite, Scale ?? 1, Launch);
        }
        bool cpu = backend == Proteus.Backend.Cpu;
        long heads = Heads ?? 16;
        long kvHeads = KvHeads ?? heads;
        if (heads % kvHeads != 0)
        {
            throw new UsageException($"--kv-heads ({kvHeads}) must divide the query heads ({heads})");
        }
        if (ActiveHeads > heads)
        {
            throw new UsageException($"--active-heads ({ActiveHeads}) exceeds the heads ({heads})");
        }
        RowActivity? activity = ActiveHeads is null && KeepRatio is null ? null : new RowActivity(ActiveHeads ?? heads, KeepRatio ?? 1);
        long[] seqLens = SeqLens ?? (cpu ? [256, 512, 1024, 2048] : [1024, 2048, 4096, 8192, 16384, 32768, 65536]);
        DType dtype = DType ?? (cpu ? Proteus.DType.Float32 : Proteus.DType.BFloat16);
        return seqLens
            .Select(seqLen => new BenchCase(
                "bench", seqLen, Batch ?? 1, heads, kvHeads, HeadDim ?? 64, dtype, Budgets ?? FluxParameters.Dense, activity, Launch))
            .ToList();
    }

    /// <summary>A suite fixes its shapes, budgets and rows; --scale only shrinks a suite.</summary>
    private void CheckCombinations()
    {
        if (Suite is null)
        {
            if (Scale is not null)
            {
                throw new UsageException("--scale shrinks the lengths of a --suite; without one, give --seq");
            }
            return;
        }
        var fixedBySuite = new (string Option, bool Given)[]
        {
            ("--batch", Batch is not null), ("--heads", Heads is not null), ("--kv-heads", KvHeads is not null),
            ("--head-dim", HeadDim is not null), ("--dtype", DType is not null), ("--seq", SeqLens is not null),
            ("--window/--anchor-stride/--anchors/--dna/--shortlist", Budgets is not null),
            ("--active-heads/--keep-ratio", ActiveHeads is not null || KeepRatio is not null),
        };
        string[] given = fixedBySuite.Where(option => option.Given).Select(option => option.Option).ToArray();
        if (given.Length > 0)
        {
            throw new UsageException(
                $"--suite fixes shapes, budgets and active rows; drop {string.Join(", ", given)} (--scale shrinks the lengths)");
        }
    }
}
