using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>
/// Every head dim (8, 16, 32, 64, 80, 96, 128, 256) under every policy on the device under test equals
/// the float64 reference (SPEC §2, §3, §9): dense, Aligned with anchors and DNA keys, Relative, Seed,
/// and a sparse mask in the row mode; each in every storage type, at lengths off every tile (T 77, 131),
/// with GQA, random non-zero inputs, NaN-poisoned outputs and padding (FluxRun).
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
