namespace Proteus.Cli;

/// <summary>Named sets of bench cases (<c>--suite</c>): fixed configurations that runs are compared on.</summary>
internal static class BenchSuites
{
    /// <summary>The suite names <c>--suite</c> accepts.</summary>
    public static readonly IReadOnlyList<string> SuiteNames = ["kernels", "latency", "headdims"];

    /// <summary>
    /// The cases of suite <paramref name="name"/>, with every T multiplied by <paramref name="scale"/>
    /// (rounded, at least 1) for a smoke run on a slow device.
    /// </summary>
    public static IReadOnlyList<BenchCase> Create(string name, double scale, LaunchConfig? launch) => name switch
    {
        "kernels" => Kernels(scale, launch),
        "latency" => Latency(scale, launch),
        "headdims" => HeadDims(scale, launch),
        _ => throw new UsageException($"--suite must be one of {string.Join(", ", SuiteNames)}, not '{name}'"),
    };

    private static readonly FluxParameters Shortlist = FluxParameters.Dense with { Window = 341, AnchorStride = 256, AnchorCount = 171 };

    private static readonly FluxParameters ShortlistWithDna =
        FluxParameters.Dense with { Window = 307, AnchorStride = 256, AnchorCount = 154, DnaCount = 51 };

    private static readonly FluxParameters SparseBudgets = FluxParameters.Dense with { Window = 512, AnchorStride = 256, AnchorCount = 683 };

    /// <summary>
    /// The kernels' long-sequence cases in bfloat16 at B = 1 (the acceptance lines of the fast kernels,
    /// first judged on an H100): dense at 16K and 64K for (H 16, D 64) and (H 8, D 128), compared with
    /// PyTorch SDPA; the Aligned shortlist (W 341, S 256, A 171) at 256K, 512K and 1M for the 15 ms target
    /// and the linearity ratio t(1M) / t(256K); the same with DNA (W 307, A 154, K 51) at 256K against the
    /// no-DNA time; sparse rows (2 of 32 heads per token, 20 % of tokens, D 16, W 512, A 683) at 1M; and explicit
    /// candidate lists (H 16, D 64, L 512 random sorted lists shared by the heads) at 1M.
    /// Case names are what tests/gpu/sdpa_bench.py reads.
    /// </summary>
    private static List<BenchCase> Kernels(double scale, LaunchConfig? launch)
    {
        var cases = new List<BenchCase>();
        Add(cases, scale, launch, "dense-h16-d64", 16, 64, FluxParameters.Dense, null, 16_384, 65_536);
        Add(cases, scale, launch, "dense-h8-d128", 8, 128, FluxParameters.Dense, null, 16_384, 65_536);
        Add(cases, scale, launch, "shortlist", 16, 64, Shortlist, null, 262_144, 524_288, 1_048_576);
        Add(cases, scale, launch, "shortlist-dna", 16, 64, ShortlistWithDna, null, 262_144);
        Add(cases, scale, launch, "sparse", 32, 16, SparseBudgets, new RowActivity(HeadsPerToken: 2, KeepRatio: 0.2), 1_048_576);
        long explicitSeqLen = Math.Max(1, (long)Math.Round(1_048_576 * scale, MidpointRounding.AwayFromZero));
        cases.Add(new BenchCase("explicit", explicitSeqLen, 1, 16, 16, 64, DType.BFloat16, FluxParameters.Explicit, null, launch)
        {
            ExplicitListLength = 512,
        });
        return cases;
    }

    /// <summary>
    /// The cost of one call where the launch, not the arithmetic, dominates, in bfloat16 at B = 1, H 16, D 64:
    /// dense at T = 16, 256 and 1024; and at T = 4096 the two paths that once synchronised inside the call,
    /// the shortlist with DNA (W 307, S 256, A 154, K 51) and sparse active rows (2 of 16 heads per token,
    /// 20 % of tokens, W 512, S 256, A 683). Read the µs per call: calls are queued back to back between
    /// two synchronisations, so a call that waits for the device inside shows as its full device time.
    /// </summary>
    private static List<BenchCase> Latency(double scale, LaunchConfig? launch)
    {
        var cases = new List<BenchCase>();
        Add(cases, scale, launch, "latency-dense", 16, 64, FluxParameters.Dense, null, 16, 256, 1024);
        Add(cases, scale, launch, "latency-dna", 16, 64, ShortlistWithDna, null, 4096);
        Add(cases, scale, launch, "latency-sparse", 16, 64, SparseBudgets, new RowActivity(HeadsPerToken: 2, KeepRatio: 0.2), 4096);
        return cases;
    }

    /// <summary>
    /// Dense causal attention at T = 16K in bfloat16, B = 1, H 8, at the head dims of real models beside
    /// D 128: 80 and 96 (Phi-class) and 256 (Gemma-class). The acceptance line: each reaches ≥ 0.8× the
    /// TFLOP/s of D 128 on the H200.
    /// </summary>
    private static List<BenchCase> HeadDims(double scale, LaunchConfig? launch)
    {
        var cases = new List<BenchCase>();
        foreach (long headDim in (long[])[80, 96, 128, 256])
        {
            Add(cases, scale, launch, $"dense-h8-d{headDim}", 8, headDim, FluxParameters.Dense, null, 16_384);
        }

        return cases;
    }

    private static void Add(
        List<BenchCase> cases, double scale, LaunchConfig? launch, string name, long heads, long headDim, FluxParameters parameters,
        RowActivity? activity, params long[] seqLens)
    {
        foreach (long seqLen in seqLens)
        {
            long scaled = Math.Max(1, (long)Math.Round(seqLen * scale, MidpointRounding.AwayFromZero));
            cases.Add(new BenchCase(name, scaled, 1, heads, heads, headDim, DType.BFloat16, parameters, activity, launch));
        }
    }
}
