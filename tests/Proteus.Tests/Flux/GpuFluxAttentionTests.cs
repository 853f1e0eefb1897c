using Proteus.Tests.Reference;
using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>
/// The GPU backend (the first CUDA or HIP device) equals the CPU backend in the same process and the
/// float64 reference on the same inputs. Left out on machines without a GPU (GpuFixtureAttribute).
/// </summary>
[GpuFixture]
[Category("Gpu")]
public sealed class GpuFluxAttentionTests : GpuAndCpuDevices
{
    public static IEnumerable<TestCaseData> GpuCases() =>
        FluxCases.Gpu().Concat(FluxCases.TileLaunches()).Concat(FluxCases.RowModeDna()).Concat(FluxCases.Covering())
            .Select(c => new TestCaseData(c).SetArgDisplayNames(c.ToString()));

    [TestCaseSource(nameof(GpuCases))]
    public void GpuFluxAttentionEqualsTheCpuBackendAndTheReference(FluxCase c)
    {
        var problem = FluxProblem.Create(c);
        var reference = problem.Reference();
        var onCpu = FluxRun.On(Cpu!, problem);
        var onGpu = FluxRun.On(Gpu!, problem);
        FluxAssert.Matches(problem, onGpu, onCpu.Output, onCpu.Lse ?? reference.Lse, "CPU backend");
        FluxAssert.Matches(problem, onGpu, reference.Output, reference.Lse, "reference");
    }

    [Test]
    public void ThirtyTwoRowsAWarpWithDnaKeysIsRejectedNamingRowsPerWarpAndTheDeviceStaysUsable()
    {
        var c = FluxCases.TileLaunches().First(t => t.SeqLen == 1000 && !t.CoversSequence);
        var dna = c with
        {
            Parameters = c.Parameters with { Window = 100, DnaCount = 8 },
            WithSalience = true,
            Launch = new LaunchConfig { Mode = LaunchMode.Tile, BlockQ = 128, RowsPerWarp = 32 },
        };
        var exception = Assert.Throws<ProteusInvalidArgumentException>(() => FluxRun.On(Gpu!, FluxProblem.Create(dna)));
        Assert.That(exception!.ArgumentName, Is.EqualTo("launch.rows_per_warp"));
        Assert.That(exception.Message, Does.Contain("32 query rows"));

        // 16 rows a warp (8 warps) take the same problem, and match the CPU backend.
        var sixteenRows = dna with { Launch = new LaunchConfig { Mode = LaunchMode.Tile, BlockQ = 128, RowsPerWarp = 16 } };
        var problem = FluxProblem.Create(sixteenRows);
        FluxAssert.Matches(problem, FluxRun.On(Gpu!, problem), FluxRun.On(Cpu!, problem).Output, problem.Reference().Lse, "CPU backend");
    }

    [TestCase(0.05, FluxKernel.GpuRowMode)]
    [TestCase(0.9, FluxKernel.GpuTile)]
    public void ADensityHintRunsTheOneKernelThatSuitsItWithTheSameOutput(double density, FluxKernel expected)
    {
        // The mask is about 70 % active: whichever hint the caller gives, the output is the same.
        var c = FluxCases.RowModeDna().First(r => r.SeqLen == 300 && r.WithActiveMask && r.DType == DType.BFloat16)
            with { Launch = null, LaunchMode = LaunchMode.Auto, Layout = StorageLayout.Bhtd };
        var problem = FluxProblem.Create(c with { ActiveDensity = density });
        var onGpu = FluxRun.On(Gpu!, problem);
        // The tile kernel AUTO picks is the Hopper one where that runs (a bfloat16 Aligned problem on sm_90).
        if (expected == FluxKernel.GpuTile && HopperKernelRuns()) expected = FluxKernel.GpuTileWgmma;
        Assert.That(onGpu.Kernel, Is.EqualTo(expected));
        FluxAssert.Matches(problem, onGpu, FluxRun.On(Cpu!, problem).Output, problem.Reference().Lse, "CPU backend");
        FluxAssert.Matches(problem, onGpu, problem.Reference().Output, problem.Reference().Lse, "reference");
    }

    [Test]
    public void TheRowModeRefusesDnaKeysItDoesNotTakeNamingTheModeAndTheDeviceStaysUsable()
    {
        var c = FluxCases.RowModeDna().First(r => r.SeqLen == 300 && r.WithActiveMask);
        var tooMany = c with { Parameters = c.Parameters with { DnaCount = 257 } };
        var relative = c with { Parameters = c.Parameters with { Policy = CandidatePolicy.Relative } };
        foreach (var (refused, reason) in new[] { (tooMany, "up to 256 DNA keys"), (relative, "Aligned policy only") })
        {
            var exception = Assert.Throws<ProteusInvalidArgumentException>(() => FluxRun.On(Gpu!, FluxProblem.Create(refused)));
            Assert.That(exception!.ArgumentName, Is.EqualTo("launch.mode"));
            Assert.That(exception.Message, Does.Contain(reason));
        }

        // AUTO takes both (the general row kernel), and matches the CPU backend.
        foreach (var refused in new[] { tooMany, relative })
        {
            var problem = FluxProblem.Create(refused with { Launch = null, LaunchMode = LaunchMode.Auto });
            FluxAssert.Matches(problem, FluxRun.On(Gpu!, problem), FluxRun.On(Cpu!, problem).Output, problem.Reference().Lse, "CPU backend");
        }
    }

    [Test]
    public void GpuShortlistGatherEqualsTheBruteForceSets([ValueSource(typeof(RuleBasedPolicies), nameof(RuleBasedPolicies.All))] CandidatePolicy policy, [Values(1, 65, 1000, 4097)] int seqLen)
    {
        var random = new Random(seqLen * 3 + (int)policy);
        var parameters = FluxCases.Budgets(random, policy, seqLen, coversSequence: false);
        var salience = Enumerable.Range(0, 2 * seqLen).Select(_ => random.Next(8) / 8f).ToArray();
        var rows = Enumerable.Range(0, seqLen).Where(i => i < 70 || i % 37 == 0 || i == seqLen - 1).Select(i => (long)i).ToArray();
        using var salienceBuffer = Gpu!.Upload<float>(salience);
        var gathered = Shortlist.Gather(Gpu, parameters, seqLen, new TensorView<float>(salienceBuffer, [2, seqLen]), 1, rows);
        for (int r = 0; r < rows.Length; r++)
        {
            var expected = CandidateSets.Of(parameters, seqLen, salience.AsSpan(seqLen, seqLen), rows[r]);
            Assert.That(gathered[r], Is.EqualTo(expected), $"C({rows[r]}) with {parameters}");
        }
    }
}
