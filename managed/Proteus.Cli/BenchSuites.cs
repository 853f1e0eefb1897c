namespace Proteus.Cli;

/// <summary>Named sets of bench cases (<c>--suite</c>): the configurations an issue's acceptance is judged on.</summary>
internal static class BenchSuites
{
    /// <summary>The suite names <c>--suite</c> accepts.</summary>
    public static readonly IReadOnlyList<string> SuiteNames = ["issue3"];

    /// <summary>
    /// The cases of suite <paramref name="name"/>, with every T multiplied by <paramref name="scale"/>
    /// (rounded, at least 1) for a smoke run on a slow device.
    /// </summary>
    public static IReadOnlyList<BenchCase> Create(string name, double scale, LaunchConfig? launch) => name switch
    {
        "issue3" => Issue3(scale, launch),
        _ => throw new UsageException($"--suite must be one of {string.Join(", ", SuiteNames)}, not '{name}'"),
    };

    /// <summary>
    /// Issue 3 ("the fast flux kernel"), acceptance on an H100 in bfloat16 at B = 1: dense at 16K and 64K
    /// for (H 16, D 64) and (H 8, D 128), compared with PyTorch SDPA; the Aligned shortlist (W 341, S 256,
    /// A 171) at 256K, 512K and 1M for the 15 ms target and the linearity ratio t(1M) / t(256K); the same
    /// with DNA (W 307, A 154, K 51) at 256K against the no-DNA time; and sparse rows (2 of 32 heads per
    /// token, 20 % of tokens, D 16, W 512, A 683) at 1M. Case names are what tests/gpu/sdpa_bench.py reads.
    /// </summary>
    private static List<BenchCase> Issue3(double scale, LaunchConfig? launch)
    {
        var dense = FluxParameters.Dense;
        var shortlist = dense with { Window = 341, AnchorStride = 256, AnchorCount = 171 };
        var shortlistWithDna = dense with { Window = 307, AnchorStride = 256, AnchorCount = 154, DnaCount = 51 };
        var sparse = dense with { Window = 512, AnchorStride = 256, AnchorCount = 683 };

        var cases = new List<BenchCase>();
        void Add(string name, long heads, long headDim, FluxParameters parameters, RowActivity? activity, params long[] seqLens)
        {
            foreach (long seqLen in seqLens)
            {
                long scaled = Math.Max(1, (long)Math.Round(seqLen * scale, MidpointRounding.AwayFromZero));
                cases.Add(new BenchCase(name, scaled, 1, heads, heads, headDim, DType.BFloat16, parameters, activity, launch));
            }
        }
        Add("dense-h16-d64", 16, 64, dense, null, 16_384, 65_536);
        Add("dense-h8-d128", 8, 128, dense, null, 16_384, 65_536);
        Add("shortlist", 16, 64, shortlist, null, 262_144, 524_288, 1_048_576);
        Add("shortlist-dna", 16, 64, shortlistWithDna, null, 262_144);
        Add("sparse", 32, 16, sparse, new RowActivity(HeadsPerToken: 2, KeepRatio: 0.2), 1_048_576);
        return cases;
    }
}
