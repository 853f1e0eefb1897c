namespace Proteus.Cli;

/// <summary>The modes of the default sweep, timed side by side at each T.</summary>
internal enum SweepMode
{
    /// <summary>α = 0: every row sees its whole causal prefix.</summary>
    Dense,

    /// <summary>α = 1 at L 512: the saturated budgets W 341, S 256, A 171 (docs/flux-attention.md Appendix A).</summary>
    Shortlist,

    /// <summary>The library's automatic α schedule and the budgets its FluxBudget derives from (T, α).</summary>
    Auto,
}

/// <summary>
/// A parsed <c>proteus bench</c> request: a sweep of sequence lengths over one shape (the modes side by
/// side, or one explicit budget), or a named suite of fixed cases, plus the launch configuration and
/// how long to time each case. Defaults that depend on the device come from <see cref="Cases"/>.
/// </summary>
internal sealed record BenchOptions(
    Backend? Backend, string? Suite, double? Scale, long? Batch, long? Heads, long? KvHeads, long? HeadDim, DType? DType,
    long[]? SeqLens, SweepMode[]? Modes, FluxParameters? Budgets, long? ActiveHeads, double? KeepRatio, LaunchConfig? Launch,
    int Warmup, int MaxIterations, double? BudgetSeconds, double CallLimitSeconds, string? JsonPath, string? CsvPath, string? PlotPath,
    string? SdpaPath, int? Threads = null)
{
    /// <summary>The shortlist mode's budgets: the Seed policy's saturated budgets (W 341, S 256, A 171) for L = 512.</summary>
    public static readonly FluxParameters ShortlistBudgets = FluxParameters.Dense with { Window = 341, AnchorStride = 256, AnchorCount = 171 };

    /// <summary>Seconds per case: the option, else 1 on the CPU (the default sweep stays within a minute) and 3 on a GPU.</summary>
    public double BudgetFor(Backend backend) => BudgetSeconds ?? (backend == Proteus.Backend.Cpu ? 1 : 3);

    /// <summary>
    /// The cases to run on a device of <paramref name="backend"/>, ordered by T and then mode, so the
    /// modes of one T sit together and every case's cost can be estimated from the same mode at a
    /// smaller T. Auto cases carry what <paramref name="attention"/>'s schedule and budget pick at their T.
    /// </summary>
    public IReadOnlyList<BenchCase> Cases(Backend backend, FluxAttention attention)
    {
        if (Suite is { } suite)
        {
            return BenchSuites.Create(suite, Scale ?? 1, Launch);
        }
        bool cpu = backend == Proteus.Backend.Cpu;
        long heads = Heads ?? (cpu ? 8 : 16);
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
        long[] seqLens = SeqLens ?? (cpu ? [512, 1024, 2048, 4096] : [1024, 2048, 4096, 8192, 16384, 32768, 65536]);
        DType dtype = DType ?? (cpu ? Proteus.DType.Float32 : Proteus.DType.BFloat16);
        long batch = Batch ?? 1, headDim = HeadDim ?? 64;

        var cases = new List<BenchCase>();
        foreach (long seqLen in seqLens.Distinct().Order())
        {
            if (Budgets is { } budgets)
            {
                cases.Add(new BenchCase("flux", seqLen, batch, heads, kvHeads, headDim, dtype, budgets, activity, Launch));
                continue;
            }
            foreach (SweepMode mode in Modes ?? Enum.GetValues<SweepMode>())
            {
                cases.Add(mode switch
                {
                    SweepMode.Dense => new BenchCase("dense", seqLen, batch, heads, kvHeads, headDim, dtype, FluxParameters.Dense, activity, Launch),
                    SweepMode.Shortlist => new BenchCase("shortlist", seqLen, batch, heads, kvHeads, headDim, dtype, ShortlistBudgets, activity, Launch),
                    _ => Derived(attention, seqLen, batch, heads, kvHeads, headDim, dtype, activity),
                });
            }
        }
        return cases;
    }

    /// <summary>What the automatic schedule picks at T (evaluated as a run would: the keys' T, the query's D).</summary>
    private BenchCase Derived(
        FluxAttention attention, long seqLen, long batch, long heads, long kvHeads, long headDim, DType dtype, RowActivity? activity)
    {
        AlphaDecision decision = attention.Schedule.Evaluate(seqLen, headDim);
        ShortlistBudget budget = attention.Budget.Compute(new AttentionShape(batch, heads, seqLen, headDim), decision.Alpha, decision.BudgetScale);
        return new BenchCase("auto", seqLen, batch, heads, kvHeads, headDim, dtype, budget.ToFluxParameters(), activity, Launch)
        {
            Schedule = budget,
        };
    }
}
