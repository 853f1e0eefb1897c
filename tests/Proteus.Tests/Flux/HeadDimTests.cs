using Proteus.Tests.Explicit;
using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>
/// Every head dim (8, 16, 32, 64, 80, 96, 128, 256) under every policy on the device under test equals
/// the float64 reference (SPEC §2, §3, §9): dense, Aligned with anchors and DNA keys, Relative, Seed,
/// and a sparse mask in the row mode; each in every storage type, at lengths off every tile (T 77, 131),
/// with GQA, random non-zero inputs, NaN-poisoned outputs and padding (FluxRun). The explicit policy
/// (docs/explicit-candidates.md) at every D equals its brute-force float64 oracle (ExplicitRunner).
/// </summary>
[TestFixture]
public sealed class HeadDimTests
{
    private Device device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenUnderTest();

    [OneTimeTearDown]
    public void CloseDevice() => device.Dispose();

    /// <summary>The budgets each D runs under, by name; <c>T</c> is the case's length.</summary>
    private static FluxParameters Budgets(string name, int seqLen) => name switch
    {
        "dense" => FluxParameters.Dense,
        "aligned-dna" => new FluxParameters { Window = Math.Max(1, seqLen / 6), AnchorStride = 5, AnchorCount = 3, DnaCount = 4 },
        "relative" => new FluxParameters { Policy = CandidatePolicy.Relative, Window = Math.Max(1, seqLen / 5), AnchorStride = 7, AnchorCount = 4 },
        "seed" => new FluxParameters
        {
            Policy = CandidatePolicy.Seed, Window = 9, AnchorStride = 6, AnchorCount = 3, DnaCount = 2, SeedCap = 14, SeedLocalCap = 6,
        },
        "row-mode" => new FluxParameters { Window = Math.Max(1, seqLen / 4), AnchorStride = 3, AnchorCount = 5, DnaCount = 6 },
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such budget"),
    };

    public static IEnumerable<TestCaseData> Cases()
    {
        string[] budgets = ["dense", "aligned-dna", "relative", "seed", "row-mode"];
        int n = 0;
        foreach (int headDim in FluxCases.HeadDims)
        {
            foreach (string name in budgets)
            {
                foreach (var dtype in DTypes.Storage)
                {
                    int seqLen = n % 2 == 0 ? 77 : 131;
                    var c = FluxCases.Draw(
                        seed: 13_000 + n, CandidatePolicy.Aligned, dtype, headDim, gqaRatio: 1 + n % 2, StorageLayout.Bhtd, seqLen,
                        coversSequence: false, withActiveMask: name == "row-mode" || n % 3 == 0, withLse: true, explicitScale: n % 4 == 1);
                    var parameters = Budgets(name, seqLen) with { Scale = c.Parameters.Scale };
                    c = c with
                    {
                        Parameters = parameters,
                        WithSalience = parameters.DnaCount > 0,
                        // An explicit ROW (FluxRun checks a backend that does not offer it rejects it); else
                        // AUTO, the dispatcher's pick for the D.
                        LaunchMode = name == "row-mode" ? LaunchMode.Row : LaunchMode.Auto,
                        InactiveFraction = name == "row-mode" ? 0.9 : c.InactiveFraction,
                    };
                    yield return new TestCaseData(c).SetArgDisplayNames($"{name} {c}");
                    n++;
                }
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void EveryHeadDimEqualsTheFloat64Reference(FluxCase c)
    {
        var problem = FluxProblem.Create(c);
        var expected = problem.Reference();
        var result = FluxRun.On(device, problem);
        FluxAssert.Matches(problem, result, expected.Output, expected.Lse, $"reference at D {c.HeadDim}");
    }

    /// <summary>
    /// Explicit lists at every D and storage type: lists shared by 8 query heads on one kv head (a unit of
    /// the GPU kernel takes up to 1024 / D of them: two units a row at D 256) and per-head lists with GQA;
    /// up to 70 slots a row (past two 32-slot tiles), indices out of range, masks, query slices. float32 at
    /// D 256 is where the GPU kernel's K and V share one gathered tile.
    /// </summary>
    public static IEnumerable<TestCaseData> ExplicitCases()
    {
        int n = 0;
        foreach (int headDim in FluxCases.HeadDims)
        {
            foreach (var dtype in DTypes.Storage)
            {
                foreach (bool perHead in (bool[])[false, true])
                {
                    int seed = 13_500 + n;
                    int heads = perHead ? 4 : 8, kvHeads = perHead ? 2 : 1;
                    int t = 90 + n % 11, tq = n % 2 == 0 ? t : 1 + n % 13;
                    long? p0 = n % 3 == 1 ? (t - tq) / 2 : null;
                    long first = p0 ?? t - tq;
                    int rows = (perHead ? heads : 1) * tq;
                    var p = new ExplicitProblem
                    {
                        Seed = seed,
                        DType = dtype,
                        Heads = heads,
                        KvHeads = kvHeads,
                        SeqLen = t,
                        HeadDim = headDim,
                        QueryOffset = p0,
                        QueryLength = tq,
                        PerHead = perHead,
                        Masked = n % 4 == 3,
                        Lists = ExplicitProblem.RandomLists(seed, rows, tq, first, 0, 70, sorted: n % 2 == 1),
                    };
                    yield return new TestCaseData(p).SetArgDisplayNames($"explicit {p}");
                    n++;
                }
            }
        }
    }

    [TestCaseSource(nameof(ExplicitCases))]
    public void ExplicitListsAtEveryHeadDimEqualTheOracle(ExplicitProblem p)
    {
        ExplicitResult expected = ExplicitRunner.Oracle(p);
        ExplicitResult actual = ExplicitRunner.Run(device, p);
        ExplicitCandidateTests.AssertMatches(actual, expected, p);
        Assert.That(actual.Run!.Kernel, Is.EqualTo(device.Backend == Backend.Cpu ? FluxKernel.CpuReference : FluxKernel.GpuExplicit));
    }

    [Test]
    public void EveryHeadDimHasExplicitListsInEveryStorageTypeSharedAndPerHead()
    {
        var cases = ExplicitCases().Select(data => (ExplicitProblem)data.Arguments[0]!).ToList();
        foreach (int headDim in FluxCases.HeadDims)
        {
            var atD = cases.Where(p => p.HeadDim == headDim).ToList();
            Assert.That(atD.Select(p => p.DType).Distinct(), Is.EquivalentTo(DTypes.Storage), $"D {headDim}");
            foreach (var dtype in DTypes.Storage)
            {
                Assert.That(atD.Where(p => p.DType == dtype).Select(p => p.PerHead), Is.EquivalentTo(new[] { false, true }), $"D {headDim} {dtype}");
            }
        }
        Assert.That(cases.Any(p => p.HeadDim == 256 && !p.PerHead && p.Heads / p.KvHeads > 1024 / 256),
            "D 256: a shared list over more heads than one unit of the GPU kernel takes");
        Assert.That(cases.Any(p => p.Lists.Any(l => l.Length > 64)), "a list past two tiles of 32 slots");
    }

    [Test]
    public void EveryHeadDimIsCoveredByEveryBudgetAndStorageType()
    {
        var cases = Cases().Select(data => (FluxCase)data.Arguments[0]!).ToList();
        foreach (int headDim in FluxCases.HeadDims)
        {
            var atD = cases.Where(c => c.HeadDim == headDim).ToList();
            Assert.That(atD.Select(c => c.Parameters.Policy).Distinct(), Is.EquivalentTo(new[] { CandidatePolicy.Aligned, CandidatePolicy.Relative, CandidatePolicy.Seed }), $"D {headDim}");
            Assert.That(atD.Select(c => c.DType).Distinct(), Is.EquivalentTo(DTypes.Storage), $"D {headDim}");
            Assert.That(atD.Any(c => c.WithActiveMask && c.LaunchMode == LaunchMode.Row), $"D {headDim}: a masked row-mode case");
        }
    }
}
