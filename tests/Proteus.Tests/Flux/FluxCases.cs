using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>The deterministic lists of flux attention cases the parity tests run.</summary>
public static class FluxCases
{
    private static readonly CandidatePolicy[] Policies = RuleBasedPolicies.All;
    /// <summary>The head dims every backend and policy takes (80, 96: Phi-class models; 256: Gemma-class).</summary>
    public static readonly int[] HeadDims = [8, 16, 32, 64, 80, 96, 128, 256];
    private static readonly int[] GqaRatios = [1, 2, 4];
    private static readonly StorageLayout[] Layouts = Enum.GetValues<StorageLayout>();
    private static readonly int[] SeqLens = [1, 2, 7, 63, 64, 65, 300, 1000];
    // The layouts whose rows are 16-byte aligned: the tile kernel takes them (the padded-offset views go to the row kernel).
    private static readonly StorageLayout[] TileLayouts =
        [StorageLayout.Bhtd, StorageLayout.Bthd, StorageLayout.FusedQkv, StorageLayout.BroadcastKeyValue];

    /// <summary>
    /// Two independent all-pairs coverings of policy × dtype × D × GQA ratio × layout × T × budget shape
    /// (window covering the sequence or not) × active mask × lse × explicit scale: every value of every
    /// axis, and every pair of values of two axes, appears in at least two cases with different budgets.
    /// Budgets and the rest are drawn per case.
    /// </summary>
    public static IEnumerable<FluxCase> Covering()
    {
        int[] axes = [Policies.Length, DTypes.Storage.Length, HeadDims.Length, GqaRatios.Length, Layouts.Length, SeqLens.Length, 2, 2, 2, 2];
        var rows = PairwiseCovering.Generate(axes, seed: 2024).Concat(PairwiseCovering.Generate(axes, seed: 2025)).ToList();
        for (int n = 0; n < rows.Count; n++)
        {
            var r = rows[n];
            yield return Draw(
                seed: 1000 + n,
                Policies[r[0]], DTypes.Storage[r[1]], HeadDims[r[2]], GqaRatios[r[3]], Layouts[r[4]], SeqLens[r[5]],
                coversSequence: r[6] == 1, withActiveMask: r[7] == 1, withLse: r[8] == 1, explicitScale: r[9] == 1);
        }
    }

    /// <summary>
    /// The GPU list: every D × dtype, each with GQA, a mask, DNA keys (one to six), and the policies and
    /// lengths (up to 4097, past any single tile or block) taken in turn; launch modes in turn.
    /// </summary>
    public static IEnumerable<FluxCase> Gpu()
    {
        int[] seqLens = [1, 65, 300, 1000, 4097];
        int n = 0;
        foreach (var headDim in HeadDims)
        {
            foreach (var dtype in DTypes.Storage)
            {
                var c = Draw(
                    seed: 5000 + n,
                    Policies[n % Policies.Length], dtype, headDim, GqaRatios[1 + n % 2], Layouts[n % Layouts.Length], seqLens[n % seqLens.Length],
                    coversSequence: n % 4 == 3, withActiveMask: true, withLse: true, explicitScale: n % 2 == 1);
                yield return c with
                {
                    LaunchMode = (LaunchMode)(n % 3),
                    Parameters = c.Parameters with { DnaCount = 1 + n % 6 },
                    WithSalience = true,
                };
                n++;
            }
        }
    }

    /// <summary>
    /// The row mode with DNA keys (Aligned): explicit ROW on every dtype, K below, at and above the 64
    /// query rows of its DNA lists up to the 256 it takes, T = 1 and lengths off the tiles, GQA ratios,
    /// layouts, masks (and none), salience with ties on most; every other case a short window and
    /// anchors of stride 3 among the first keys, so that DNA keys that are also anchors must count once.
    /// Then AUTO on float16/bfloat16 with 5 % of the rows active: the device picks the row mode over the
    /// tile kernel, both reading one set of DNA lists.
    /// </summary>
    public static IEnumerable<FluxCase> RowModeDna()
    {
        long[] dnaCounts = [1, 6, 63, 64, 65, 130, 256];
        int[] seqLens = [1, 65, 300, 1000];
        int n = 0;
        foreach (var dtype in DTypes.Storage)
        {
            foreach (long dnaCount in dnaCounts)
            {
                int seqLen = seqLens[n % seqLens.Length];
                var c = Draw(
                    seed: 9000 + n, CandidatePolicy.Aligned, dtype, HeadDims[n % HeadDims.Length], GqaRatios[n % GqaRatios.Length],
                    Layouts[n % Layouts.Length], seqLen,
                    coversSequence: false, withActiveMask: n % 5 != 4, withLse: n % 2 == 0, explicitScale: n % 3 == 0);
                var parameters = n % 2 == 0
                    ? c.Parameters with { Window = Math.Max(1, seqLen / 8), AnchorStride = 3, AnchorCount = 5, DnaCount = dnaCount }
                    : c.Parameters with { DnaCount = dnaCount };
                yield return c with
                {
                    Parameters = parameters,
                    WithSalience = true,
                    TiedSalience = n % 3 != 0,
                    Launch = new LaunchConfig { Mode = LaunchMode.Row },
                };
                n++;
            }
        }
        foreach (var dtype in DTypes.Storage.Where(d => d != DType.Float32))
        {
            foreach (long dnaCount in (long[])[6, 100])
            {
                var c = Draw(
                    seed: 9100 + n, CandidatePolicy.Aligned, dtype, 64, 2, StorageLayout.Bhtd, 1000,
                    coversSequence: false, withActiveMask: true, withLse: true, explicitScale: false);
                yield return c with
                {
                    Parameters = c.Parameters with { DnaCount = dnaCount },
                    WithSalience = true,
                    InactiveFraction = 0.95,
                    LaunchMode = LaunchMode.Auto,
                };
                n++;
            }
        }
    }

    /// <summary>
    /// Explicit tile launches (the GPU backend's TILE mode with given block_q, rows_per_warp, block_k, stages):
    /// 16 and 32 query rows a warp at D 64 and 128, dense, window-only and window with anchors, at
    /// lengths on both sides of the 64- and 128-row tiles.
    /// </summary>
    public static IEnumerable<FluxCase> TileLaunches()
    {
        (int BlockQ, int RowsPerWarp, int BlockK, int Stages)[] launches =
            [(128, 32, 0, 0), (64, 32, 32, 3), (128, 32, 128, 2), (128, 16, 64, 1), (64, 16, 0, 2)];
        int[] seqLens = [1, 63, 127, 129, 1000];
        int n = 0;
        foreach (var headDim in (int[])[64, 128])
        {
            foreach (var dtype in DTypes.Storage.Where(d => d != DType.Float32))
            {
                foreach (var (blockQ, rowsPerWarp, blockK, stages) in launches)
                {
                    int seqLen = seqLens[n % seqLens.Length];
                    var c = Draw(
                        seed: 7000 + n, CandidatePolicy.Aligned, dtype, headDim, GqaRatios[n % 2], TileLayouts[n % TileLayouts.Length], seqLen,
                        coversSequence: n % 3 == 0, withActiveMask: n % 2 == 0, withLse: true, explicitScale: false);
                    // Anchors on every third case that has a window; no DNA (32 rows a warp take none).
                    var parameters = c.Parameters with
                    {
                        AnchorCount = n % 3 == 1 ? c.Parameters.AnchorCount : 0,
                        DnaCount = 0,
                    };
                    int keys = headDim == 128 && blockK == 128 ? 64 : blockK;
                    yield return c with
                    {
                        Parameters = parameters,
                        LaunchMode = LaunchMode.Tile,
                        Launch = new LaunchConfig { Mode = LaunchMode.Tile, BlockQ = blockQ, RowsPerWarp = rowsPerWarp, BlockK = keys, Stages = stages },
                    };
                    n++;
                }
            }
        }
    }

    /// <summary>Draws the rest of a case (batch, heads, budgets, input amplitude) from its seed.</summary>
    public static FluxCase Draw(
        int seed, CandidatePolicy policy, DType dtype, int headDim, int gqaRatio, StorageLayout layout, int seqLen,
        bool coversSequence, bool withActiveMask, bool withLse, bool explicitScale)
    {
        var random = new Random(seed);
        // Long sequences keep B·Hkv small so that the float64 reference stays fast; a shared k and v needs B > 1.
        int batch = layout == StorageLayout.BroadcastKeyValue ? 2 : seqLen >= 300 ? 1 : random.Next(1, 3);
        int kvHeads = seqLen >= 1000 ? 1 : random.Next(1, 3);
        var parameters = Budgets(random, policy, seqLen, coversSequence) with
        {
            Scale = explicitScale ? (float)(0.05 + 0.5 * random.NextDouble()) : null,
        };
        return new FluxCase
        {
            Seed = seed,
            DType = dtype,
            Batch = batch,
            Heads = kvHeads * gqaRatio,
            KvHeads = kvHeads,
            SeqLen = seqLen,
            HeadDim = headDim,
            Layout = layout,
            Parameters = parameters,
            WithActiveMask = withActiveMask,
            WithLse = withLse,
            WithSalience = parameters.DnaCount > 0 || random.Next(2) == 0,
            TiedSalience = random.Next(2) == 0,
            LaunchMode = (LaunchMode)random.Next(3),
            QueryAmplitude = 0.5 + 2 * random.NextDouble(),
        };
    }

    /// <summary>
    /// Random budgets for a sequence of length T. Covering: W ≥ T (sometimes the "infinite" default)
    /// and, for Seed, caps ≥ T. Otherwise W ≤ T/2 with anchors and DNA keys that fall before the window.
    /// </summary>
    public static FluxParameters Budgets(Random random, CandidatePolicy policy, int seqLen, bool coversSequence)
    {
        long anchors = random.Next(0, 7);
        long dna = random.Next(0, 7);
        long stride = random.Next(1, Math.Max(2, seqLen / 4 + 1));
        if (anchors == 0 && random.Next(2) == 0)
        {
            stride = 0; // allowed when there are no anchors
        }
        else if (policy == CandidatePolicy.Seed && random.Next(4) == 0)
        {
            stride = 0; // Seed: S = 0 disables anchors whatever their count
        }

        long window, seedCap, seedLocalCap;
        if (coversSequence)
        {
            window = random.Next(2) == 0 ? FluxParameters.Dense.Window : seqLen + random.Next(0, 4);
            seedCap = seqLen + random.Next(0, 4);
            seedLocalCap = random.Next(2) == 0 ? FluxParameters.Dense.Window : seqLen + random.Next(0, 4);
        }
        else
        {
            window = random.Next(1, Math.Max(2, seqLen / 2 + 1));
            seedCap = random.Next(1, (int)(window + anchors + dna + 3));
            seedLocalCap = random.Next(1, (int)window + 3);
        }

        return new FluxParameters
        {
            Policy = policy,
            Window = window,
            AnchorStride = stride,
            AnchorCount = anchors,
            DnaCount = dna,
            SeedCap = policy == CandidatePolicy.Seed ? seedCap : 0,
            SeedLocalCap = policy == CandidatePolicy.Seed ? seedLocalCap : 0,
        };
    }
}
