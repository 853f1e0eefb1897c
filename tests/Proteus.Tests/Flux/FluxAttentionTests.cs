using Proteus.Tests.Reference;
using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>Flux attention on the device under test equals the float64 reference (SPEC §2, §3, §9).</summary>
[TestFixture]
public sealed class FluxAttentionTests
{
    private Device device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenUnderTest();

    [OneTimeTearDown]
    public void CloseDevice() => device.Dispose();

    public static IEnumerable<TestCaseData> CoveringCases() =>
        FluxCases.Covering().Select(c => new TestCaseData(c).SetArgDisplayNames(c.ToString()));

    [TestCaseSource(nameof(CoveringCases))]
    public void FluxAttentionEqualsTheFloat64Reference(FluxCase c)
    {
        var problem = FluxProblem.Create(c);
        var expected = problem.Reference();
        var result = FluxRun.On(device, problem);
        FluxAssert.Matches(problem, result, expected.Output, expected.Lse, c.CoversSequence ? "dense causal reference" : "reference");
    }

    [TestCase(0.0)]
    [TestCase(0.2)]
    [TestCase(1.0)]
    public void AStatedMaskDensityLeavesTheOutputAsItIs(double density)
    {
        var c = FluxCases.Draw(23, CandidatePolicy.Aligned, DType.BFloat16, 32, 2, StorageLayout.Bhtd, 300, coversSequence: false, withActiveMask: true, withLse: true, explicitScale: false);
        var problem = FluxProblem.Create(c with { ActiveDensity = density });
        var expected = problem.Reference();
        FluxAssert.Matches(problem, FluxRun.On(device, problem), expected.Output, expected.Lse, "reference");
    }

    [TestCase(-0.1)]
    [TestCase(1.5)]
    [TestCase(double.NaN)]
    public void AMaskDensityOutsideZeroToOneIsRejectedBeforeAnyWork(double density)
    {
        var c = FluxCases.Draw(29, CandidatePolicy.Aligned, DType.Float32, 16, 1, StorageLayout.Bhtd, 40, coversSequence: false, withActiveMask: true, withLse: false, explicitScale: false);
        var problem = FluxProblem.Create(c with { ActiveDensity = density });
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => FluxRun.On(device, problem));
        Assert.That(exception!.Message, Does.Contain("ActiveDensity"));
        // The device stays usable.
        var fine = FluxProblem.Create(c);
        FluxAssert.Matches(fine, FluxRun.On(device, fine), fine.Reference().Output, fine.Reference().Lse, "reference");
    }

    [Test]
    public void WindowOfExactlyTheSequenceLengthEqualsDenseCausalAttention(
        [ValueSource(typeof(RuleBasedPolicies), nameof(RuleBasedPolicies.All))] CandidatePolicy policy, [Values(DType.Float32, DType.BFloat16)] DType dtype, [Values(64, 300)] int seqLen)
    {
        var c = FluxCases.Draw(7, policy, dtype, 32, 2, StorageLayout.Bhtd, seqLen, coversSequence: false, withActiveMask: false, withLse: true, explicitScale: false);
        c = c with
        {
            Parameters = c.Parameters with { Window = seqLen, AnchorStride = 5, AnchorCount = 3, DnaCount = 4, SeedCap = seqLen, SeedLocalCap = seqLen },
            WithSalience = true,
        };
        Assert.That(c.CoversSequence, Is.True);
        var problem = FluxProblem.Create(c);
        var dense = ReferenceAttention.DenseCausal(problem.Inputs);
        FluxAssert.Matches(problem, FluxRun.On(device, problem), dense.Output, dense.Lse, "dense causal reference");
    }

    [Test]
    public void BudgetsFarBeyondTheSequenceEqualDenseCausalAttention([ValueSource(typeof(RuleBasedPolicies), nameof(RuleBasedPolicies.All))] CandidatePolicy policy)
    {
        // A trillion anchors and DNA keys: every piece saturates at the prefix [0, i], and nothing may be
        // sized or looped by the budget itself.
        const long Huge = 1_000_000_000_000;
        var c = FluxCases.Draw(17, policy, DType.Float16, 64, 4, StorageLayout.Bthd, 300, coversSequence: false, withActiveMask: true, withLse: true, explicitScale: false);
        c = c with
        {
            Parameters = c.Parameters with { Window = 1, AnchorStride = 1, AnchorCount = Huge, DnaCount = Huge, SeedCap = Huge, SeedLocalCap = Huge },
            WithSalience = true,
        };
        var problem = FluxProblem.Create(c);
        var dense = ReferenceAttention.DenseCausal(problem.Inputs);
        FluxAssert.Matches(problem, FluxRun.On(device, problem), dense.Output, dense.Lse, "dense causal reference");
    }

    [Test]
    public void SeedRowsWhoseCandidatesOverflowTheCapAttendWithoutTheirNewestKeys([ValueSource(typeof(DTypes), nameof(DTypes.Storage))] DType dtype)
    {
        // L = 3 with one local slot and three anchors: rows i ≥ 3·S keep their three anchors and drop i itself.
        var c = FluxCases.Draw(11, CandidatePolicy.Seed, dtype, 64, 1, StorageLayout.Bthd, 100, coversSequence: false, withActiveMask: false, withLse: true, explicitScale: false);
        c = c with
        {
            Parameters = c.Parameters with { Window = 5, AnchorStride = 10, AnchorCount = 5, DnaCount = 0, SeedCap = 3, SeedLocalCap = 1 },
        };
        var problem = FluxProblem.Create(c);
        Assert.That(CandidateSets.Of(c.Parameters, 100, [], 50), Is.EqualTo(new long[] { 20, 30, 40 }), "reference: row 50 drops itself");
        var expected = problem.Reference();
        FluxAssert.Matches(problem, FluxRun.On(device, problem), expected.Output, expected.Lse, "reference");
    }

    [Test]
    public void LargeScoresAreSoftmaxedWithoutOverflow([ValueSource(typeof(DTypes), nameof(DTypes.Storage))] DType dtype)
    {
        // Scale 100 puts scores in the hundreds: exp overflows float32 unless the softmax is shifted by its
        // maximum, and an unshifted softmax gives NaN or garbage. Scores that large also turn float32 rounding
        // of the dot products (~1e-6) into score errors of ~1e-4, so o is held to 1e-3 here, not 1e-5.
        var c = FluxCases.Draw(13, CandidatePolicy.Aligned, dtype, 128, 2, StorageLayout.Bhtd, 65, coversSequence: false, withActiveMask: true, withLse: true, explicitScale: false);
        c = c with { QueryAmplitude = 1, Parameters = c.Parameters with { Scale = 100f } };
        var problem = FluxProblem.Create(c);
        var expected = problem.Reference();
        FluxAssert.Matches(problem, FluxRun.On(device, problem), expected.Output, expected.Lse, "reference",
            tolerance: Math.Max(DTypes.Tolerance(dtype), 1e-3));
    }
}
