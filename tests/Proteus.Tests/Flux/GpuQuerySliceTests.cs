using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>
/// Query slices and explicit dispatch on the GPU backend: every path (tile kernel, row mode, general row
/// kernel, DNA in the tile kernel and in the row mode, the Hopper kernel on sm_90) on slices equals the CPU backend on the same slice
/// within SPEC §9, including one decode step (Tq = 1 at p0 = T − 1) at T = 1,048,576; an explicit mode the
/// problem cannot take is an error naming it; the run info names the kernel of each path. Left out without
/// a GPU.
/// </summary>
[GpuFixture]
[Category("Gpu")]
public sealed class GpuQuerySliceTests : GpuAndCpuDevices
{
    private static readonly FluxParameters AlignedDna = new() { Window = 96, AnchorStride = 64, AnchorCount = 4, DnaCount = 6 };

    private static readonly FluxParameters Shortlist = new() { Window = 341, AnchorStride = 256, AnchorCount = 171 };

    /// <summary>The paths: (name, dtype, budgets, masked, launch, kernel the run info must name).</summary>
    private static IEnumerable<(string Name, DType DType, FluxParameters Parameters, bool Masked, LaunchConfig? Launch, FluxKernel Kernel)> Paths() =>
    [
        ("tile", DType.BFloat16, FluxParameters.Dense, false, new LaunchConfig { Mode = LaunchMode.Tile }, FluxKernel.GpuTile),
        ("tile-32-rows", DType.Float16, Shortlist, false, new LaunchConfig { Mode = LaunchMode.Tile, BlockQ = 128, RowsPerWarp = 32 }, FluxKernel.GpuTile),
        ("tile-dna", DType.BFloat16, AlignedDna, false, new LaunchConfig { Mode = LaunchMode.Tile, RowsPerWarp = 16 }, FluxKernel.GpuTile),
        ("row-mode", DType.BFloat16, Shortlist, true, new LaunchConfig { Mode = LaunchMode.Row }, FluxKernel.GpuRowMode),
        ("row-mode-dna", DType.Float16, AlignedDna, true, new LaunchConfig { Mode = LaunchMode.Row }, FluxKernel.GpuRowMode),
        ("auto-masked", DType.Float16, Shortlist, true, null, FluxKernel.GpuTileOrRowMode),
        ("auto-masked-dna", DType.BFloat16, AlignedDna, true, null, FluxKernel.GpuTileOrRowMode),
        ("row-mode-float32", DType.Float32, AlignedDna, true, null, FluxKernel.GpuRowMode),
        ("row-float32", DType.Float32, AlignedDna, false, null, FluxKernel.GpuRow),
        ("row-relative-dna", DType.BFloat16, AlignedDna with { Policy = CandidatePolicy.Relative }, false, null, FluxKernel.GpuRow),
        // The Hopper kernel (issue 12), forced: dense at D 64, the window band at D 128.
        ("hopper", DType.BFloat16, FluxParameters.Dense, false, new LaunchConfig { Mode = LaunchMode.TileWgmma }, FluxKernel.GpuTileWgmma),
        ("hopper-window", DType.BFloat16, new FluxParameters { Window = 300 }, false, new LaunchConfig { Mode = LaunchMode.TileWgmma },
         FluxKernel.GpuTileWgmma),
    ];

    public static IEnumerable<TestCaseData> Slices()
    {
        int n = 0;
        foreach (var path in Paths())
        {
            // Chunks straddling 64- and 128-row tiles, a chunk at the start, the last rows by default, one decode step.
            (long P0, long Tq, bool Explicit)[] slices = [(100, 200, true), (0, 65, true), (1000 - 129, 129, false), (999, 1, false), (517, 1, true)];
            foreach (var (p0, tq, explicitOffset) in slices)
            {
                var c = new SliceCase
                {
                    Seed = 12000 + n,
                    DType = path.DType,
                    Batch = 2,
                    Heads = 4,
                    KvHeads = n % 2 == 0 ? 2 : 4,
                    SeqLen = 1000,
                    HeadDim = path.Name is "tile-32-rows" or "hopper-window" ? 128 : 64,
                    Parameters = path.Parameters,
                    QueryOffset = p0,
                    QueryLength = tq,
                    ExplicitOffset = explicitOffset,
                    RowViews = n % 2 == 1,
                    WithActiveMask = path.Masked,
                    Launch = path.Launch,
                };
                yield return new TestCaseData(c, path.Kernel).SetArgDisplayNames($"{path.Name} {c}");
                n++;
            }
        }
    }

    [TestCaseSource(nameof(Slices))]
    public void ASliceEqualsTheCpuBackendOnTheSameSlice(SliceCase c, FluxKernel kernel)
    {
        if (kernel == FluxKernel.GpuTileWgmma && !HopperKernelRuns())
        {
            var refused = Assert.Throws<ProteusInvalidArgumentException>(() => QuerySlice.Run(Gpu!, c));
            Assert.That(refused!.ArgumentName, Is.EqualTo("launch.mode"));
            return;
        }
        SliceResult onGpu = QuerySlice.Run(Gpu!, c);
        SliceResult onCpu = QuerySlice.Run(Cpu!, c);
        QuerySlice.AssertClose(c, onGpu, onCpu, "CPU backend");
        if (kernel == FluxKernel.GpuTileOrRowMode)
        {
            Assert.That(onGpu.Run.Kernel, Is.AnyOf(FluxKernel.GpuTileOrRowMode, FluxKernel.GpuRowMode, FluxKernel.GpuTile));
        }
        else
        {
            Assert.That(onGpu.Run.Kernel, Is.EqualTo(kernel), "the kernel the run info names");
        }
        Assert.That(onGpu.Run.QueryOffset, Is.EqualTo(c.QueryOffset));
    }

    [Test]
    public void OneDecodeStepAtAMillionKeysEqualsTheCpuBackend()
    {
        const int T = 1_048_576;
        var c = new SliceCase
        {
            Seed = 13001,
            DType = DType.BFloat16,
            Batch = 1,
            Heads = 2,
            KvHeads = 1,
            SeqLen = T,
            HeadDim = 64,
            Parameters = Shortlist with { DnaCount = 51 },
            QueryOffset = T - 1,
            QueryLength = 1,
            ExplicitOffset = false,
            RowViews = false,
            WithActiveMask = false,
        };
        SliceResult onGpu = QuerySlice.Run(Gpu!, c);
        SliceResult onCpu = QuerySlice.Run(Cpu!, c);
        QuerySlice.AssertClose(c, onGpu, onCpu, "CPU backend");
        Assert.That(onGpu.Run.QueryOffset, Is.EqualTo(T - 1));
    }

    [Test]
    public void AnExplicitTileLaunchOnAFloat32ProblemIsRejectedNamingTheMode()
    {
        var c = new SliceCase
        {
            Seed = 13002, DType = DType.Float32, Batch = 1, Heads = 2, KvHeads = 2, SeqLen = 128, HeadDim = 64,
            Parameters = FluxParameters.Dense, QueryOffset = 0, QueryLength = 128, ExplicitOffset = false, RowViews = false,
            WithActiveMask = false, Launch = new LaunchConfig { Mode = LaunchMode.Tile },
        };
        var exception = Assert.Throws<ProteusInvalidArgumentException>(() => QuerySlice.Run(Gpu!, c));
        Assert.That(exception!.ArgumentName, Is.EqualTo("launch.mode"));
        // The device stays usable, and the heuristic takes the same problem on the row kernel.
        SliceResult auto = QuerySlice.Run(Gpu!, c with { Launch = null });
        Assert.That(auto.Run.Kernel, Is.EqualTo(FluxKernel.GpuRow));
    }

    [Test]
    public void TheRunInfoResolvesEveryTileField()
    {
        var c = new SliceCase
        {
            Seed = 13003, DType = DType.BFloat16, Batch = 1, Heads = 4, KvHeads = 4, SeqLen = 512, HeadDim = 64,
            Parameters = FluxParameters.Dense, QueryOffset = 0, QueryLength = 512, ExplicitOffset = false, RowViews = false,
            WithActiveMask = false,
        };
        // AUTO resolves to a mode that can be passed back (the Hopper kernel on sm_90, with no tile fields).
        LaunchConfig auto = QuerySlice.Run(Gpu!, c).Run.ResolvedLaunch;
        Assert.That(auto.Mode, Is.AnyOf(LaunchMode.Tile, LaunchMode.TileWgmma));
        Assert.That(QuerySlice.Run(Gpu!, c with { Launch = auto }).Run.ResolvedLaunch, Is.EqualTo(auto));

        // TILE with every field left to the heuristic resolves each of them.
        c = c with { Launch = new LaunchConfig { Mode = LaunchMode.Tile } };
        LaunchConfig resolved = QuerySlice.Run(Gpu!, c).Run.ResolvedLaunch;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(resolved.Mode, Is.EqualTo(LaunchMode.Tile));
            Assert.That(resolved.BlockQ, Is.AnyOf(64, 128));
            Assert.That(resolved.BlockK, Is.AnyOf(32, 64, 128));
            Assert.That(resolved.RowsPerWarp, Is.AnyOf(16, 32));
            Assert.That(resolved.Stages, Is.InRange(1, 3));
        }
        // Passing the resolved configuration back runs the same kernel with the same configuration.
        SliceResult again = QuerySlice.Run(Gpu!, c with { Launch = resolved });
        Assert.That(again.Run.ResolvedLaunch, Is.EqualTo(resolved));
    }

    [Test]
    public void LaunchCandidatesAreEachAcceptedAndTheHeuristicComesFirst()
    {
        const int T = 1000;
        using var q = Gpu!.Allocate<BFloat16>(4L * T * 64);
        using var k = Gpu.Allocate<BFloat16>(4L * T * 64);
        using var v = Gpu.Allocate<BFloat16>(4L * T * 64);
        using var o = Gpu.Allocate<BFloat16>(4L * T * 64);
        q.Fill((BFloat16)0.5f);
        k.Fill((BFloat16)0.25f);
        v.Fill((BFloat16)1f);
        var inputs = new FluxInputs<BFloat16>
        {
            Query = TensorLayouts.Bhtd(q, 1, 4, T, 64),
            Key = TensorLayouts.Bhtd(k, 1, 4, T, 64),
            Value = TensorLayouts.Bhtd(v, 1, 4, T, 64),
            Output = TensorLayouts.Bhtd(o, 1, 4, T, 64),
        };
        var attention = new FluxAttention(Gpu);
        IReadOnlyList<LaunchConfig> candidates = attention.LaunchCandidates(inputs, Shortlist);
        Assert.That(candidates, Has.Count.GreaterThan(1), "the tile kernel offers several configurations");
        Assert.That(candidates, Is.Unique);
        Assert.That(attention.Run(inputs, Shortlist).ResolvedLaunch, Is.EqualTo(candidates[0]), "the heuristic's choice first");
        foreach (LaunchConfig candidate in candidates)
        {
            FluxRunInfo run = attention.Run(inputs, Shortlist, candidate);
            Assert.That(run.ResolvedLaunch, Is.EqualTo(candidate), $"{candidate} runs as offered");
        }
        Gpu.Synchronize();
        Assert.That(o.ToArray().Select(x => (float)x), Is.All.EqualTo(1f), "every row averages v = 1");
    }
}
