using Proteus.Tests.Flux;
using Proteus.Tests.Support;

namespace Proteus.Tests.Explicit;

/// <summary>
/// Explicit candidate lists on the CPU backend (docs/explicit-candidates.md) against a brute-force float64
/// oracle written from the documented semantics: duplicates count per occurrence, indices outside [0, i]
/// are skipped, empty lists give o = 0 and lse = −∞, L = 1, T = 1, query slices, GQA, per-head and shared
/// lists; the validator reports out-of-range indices and bad lengths; malformed tensors are typed errors.
/// </summary>
[TestFixture]
public sealed class ExplicitCandidateTests
{
    private Device cpu = null!;

    [OneTimeSetUp]
    public void OpenDevice() => cpu = Device.Open(Backend.Cpu);

    [OneTimeTearDown]
    public void CloseDevice() => cpu.Dispose();

    /// <summary>Random problems over the axes that matter: dtype, head dim (all eight), GQA, per-head vs shared, slices, masks, lengths.</summary>
    public static IEnumerable<TestCaseData> RandomProblems()
    {
        int n = 0;
        foreach (DType dtype in DTypes.Storage)
        {
            foreach (bool perHead in (bool[])[false, true])
            {
                foreach (var (heads, kvHeads) in ((int, int)[])[(2, 2), (4, 1), (6, 2)])
                {
                    int seed = 500 + n++;
                    int b = 1 + n % 2, t = 40 + n % 7, tq = n % 3 == 0 ? t : 1 + n % 9;
                    long? p0 = n % 2 == 0 ? null : (t - tq) / 2;
                    long first = p0 ?? t - tq;
                    int rows = b * (perHead ? heads : 1) * tq;
                    var p = new ExplicitProblem
                    {
                        Seed = seed,
                        DType = dtype,
                        Batch = b,
                        Heads = heads,
                        KvHeads = kvHeads,
                        SeqLen = t,
                        HeadDim = FluxCases.HeadDims[n % FluxCases.HeadDims.Length],
                        QueryOffset = p0,
                        QueryLength = tq,
                        PerHead = perHead,
                        Masked = n % 4 == 1,
                        Lists = ExplicitProblem.RandomLists(seed, rows, tq, first, 0, 12, sorted: n % 2 == 0),
                    };
                    yield return new TestCaseData(p).SetArgDisplayNames(p.ToString());
                }
            }
        }
    }

    [TestCaseSource(nameof(RandomProblems))]
    public void TheCpuEqualsTheBruteForceOracle(ExplicitProblem p)
    {
        ExplicitResult expected = ExplicitRunner.Oracle(p);
        ExplicitResult actual = ExplicitRunner.Run(cpu, p);
        AssertMatches(actual, expected, p);
        Assert.That(actual.Run!.Kernel, Is.EqualTo(FluxKernel.CpuReference));
    }

    [Test]
    public void ADuplicatedIndexWeighsTwice()
    {
        // Row 0 of a decode step at i = 9 lists 3 twice: the weight of key 3 is doubled, which the oracle
        // reproduces and which differs from the list without the duplicate.
        var twice = new ExplicitProblem { Seed = 1, SeqLen = 10, QueryLength = 1, Lists = [[3, 3, 7]] };
        var once = twice with { Lists = [[3, 7]] };
        ExplicitResult withDuplicate = ExplicitRunner.Run(cpu, twice);
        AssertMatches(withDuplicate, ExplicitRunner.Oracle(twice), twice);
        double difference = ExplicitRunner.RelativeError(withDuplicate.Output, ExplicitRunner.Run(cpu, once).Output);
        Assert.That(difference, Is.GreaterThan(1e-3), "the duplicate changed nothing");
    }

    [Test]
    public void OutOfRangeIndicesAreSkippedBitForBit()
    {
        // Slice rows at i = 20, 21: −1, 22 (> i for row 0) and 1000 (≥ T) are skipped, so the rows equal the clean lists exactly.
        var noisy = new ExplicitProblem
        {
            Seed = 2, SeqLen = 30, QueryOffset = 20, QueryLength = 2, Lists = [[-1, 4, 22, 20, 1000], [0, 21, -7, 22]],
        };
        var clean = noisy with { Lists = [[4, 20], [0, 21]] };
        ExplicitResult a = ExplicitRunner.Run(cpu, noisy);
        ExplicitResult b = ExplicitRunner.Run(cpu, clean);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(a.Output, Is.EqualTo(b.Output));
            Assert.That(a.Lse, Is.EqualTo(b.Lse));
        }
        AssertMatches(a, ExplicitRunner.Oracle(noisy), noisy);
    }

    [Test]
    public void EmptyListsAndListsWithoutAValidIndexGiveZeroAndMinusInfinity()
    {
        var p = new ExplicitProblem { Seed = 3, SeqLen = 8, QueryOffset = 2, QueryLength = 3, Lists = [[], [5, 9, -1], [0]] };
        ExplicitResult result = ExplicitRunner.Run(cpu, p);
        int d = p.HeadDim;
        using (Assert.EnterMultipleScope())
        {
            for (int h = 0; h < p.Heads; h++)
            {
                int row = h * p.QueryLength;
                Assert.That(result.Output.AsSpan(row * d, 2 * d).ToArray(), Is.All.EqualTo(0.0), $"head {h} rows 0-1");
                Assert.That(result.Lse[row], Is.EqualTo(float.NegativeInfinity));
                Assert.That(result.Lse[row + 1], Is.EqualTo(float.NegativeInfinity));
                Assert.That(float.IsFinite(result.Lse[row + 2]), Is.True, "row 2 has key 0");
            }
        }
        AssertMatches(result, ExplicitRunner.Oracle(p), p);
    }

    [Test]
    public void OneSlotListsAndASequenceOfOne()
    {
        // L = 1 with T = 1: the one key 0 makes o = v[0] exactly up to storage rounding, lse = the score.
        var single = new ExplicitProblem { Seed = 4, SeqLen = 1, QueryLength = 1, WithLengths = false, Lists = [[0]] };
        AssertMatches(ExplicitRunner.Run(cpu, single), ExplicitRunner.Oracle(single), single);
        var oneSlot = new ExplicitProblem
        {
            Seed = 5, SeqLen = 17, QueryLength = 17, WithLengths = false, PerHead = true,
            Lists = Enumerable.Range(0, 2 * 17).Select(n => new[] { (n % 17) / 2 }).ToArray(),
        };
        AssertMatches(ExplicitRunner.Run(cpu, oneSlot), ExplicitRunner.Oracle(oneSlot), oneSlot);
    }

    [Test]
    public void LongSortedListsOfADecodeStep()
    {
        // One decode step over T = 3000 keys with L = 700 sorted random lists, shared by 8 heads on 2 kv heads.
        var p = new ExplicitProblem
        {
            Seed = 6, SeqLen = 3000, QueryLength = 1, Heads = 8, KvHeads = 2, HeadDim = 64, DType = DType.BFloat16,
            Lists = ExplicitProblem.RandomLists(6, 1, 1, 2999, 700, 700, sorted: true, outOfRange: false),
            WithLengths = false,
        };
        AssertMatches(ExplicitRunner.Run(cpu, p), ExplicitRunner.Oracle(p), p);
    }

    [Test]
    public void TheValidatorCountsOutOfRangeIndicesAndNamesTheFirst()
    {
        var p = new ExplicitProblem
        {
            Seed = 7, SeqLen = 12, QueryOffset = 4, QueryLength = 2, PerHead = true,
            // Rows in (h, r) order: h0 r0 (i = 4), h0 r1 (i = 5), h1 r0, h1 r1.
            Lists = [[0, 4], [5, 6, -2], [4, 4], [13, 0]],
        };
        var owned = new List<IDisposable>();
        try
        {
            ExplicitCandidatesReport report = Shortlist.ValidateExplicit(cpu, ExplicitRunner.Build<float>(cpu, p, owned));
            using (Assert.EnterMultipleScope())
            {
                Assert.That(report.Listed, Is.EqualTo(9));
                Assert.That(report.OutOfRange, Is.EqualTo(3));
                Assert.That(report.FirstOutOfRange, Is.EqualTo(((long)0, (long)0, (long)1, (long)1)));
                Assert.That(report.BadLengths, Is.Zero);
                Assert.That(report.FirstBadLength, Is.Null);
                Assert.That(report.IsClean, Is.False);
            }
        }
        finally
        {
            owned.ForEach(o => o.Dispose());
        }
    }

    [Test]
    public void ALengthAboveTheSlotsIsReportedByTheValidatorAndRejectedByTheCpu()
    {
        var p = new ExplicitProblem { Seed = 8, SeqLen = 6, QueryLength = 2, Lists = [[1, 2], [0, 1]] };
        var owned = new List<IDisposable>();
        try
        {
            FluxInputs<float> inputs = ExplicitRunner.Build<float>(cpu, p, owned);
            inputs.CandidateLengths!.Value.Buffer.CopyFrom(new int[] { 2, 3 });
            ExplicitCandidatesReport report = Shortlist.ValidateExplicit(cpu, inputs);
            Assert.That(report.BadLengths, Is.EqualTo(1));
            Assert.That(report.FirstBadLength, Is.EqualTo(((long)0, (long)-1, (long)1)));
            var error = Assert.Throws<ProteusInvalidArgumentException>(() => new FluxAttention(cpu).Run(inputs, FluxParameters.Explicit));
            Assert.That(error!.ArgumentName, Is.EqualTo("candidate_lengths"));
        }
        finally
        {
            owned.ForEach(o => o.Dispose());
        }
    }

    [Test]
    public void MalformedListsAreTypedErrorsNamingTheTensor()
    {
        var p = new ExplicitProblem { Seed = 9, SeqLen = 6, QueryLength = 2, Lists = [[1, 2], [0, 1]] };
        var owned = new List<IDisposable>();
        try
        {
            FluxInputs<float> inputs = ExplicitRunner.Build<float>(cpu, p, owned);
            var attention = new FluxAttention(cpu) { Tuning = TuningMode.Off };
            string? Name(FluxInputs<float> i) =>
                Assert.Throws<ProteusInvalidArgumentException>(() => attention.Run(i, FluxParameters.Explicit))!.ArgumentName;
            var lists = inputs.CandidateLists!.Value;
            var lengths = inputs.CandidateLengths!.Value;
            using (Assert.EnterMultipleScope())
            {
                Assert.That(Name(new FluxInputs<float> { Query = inputs.Query, Key = inputs.Key, Value = inputs.Value, Output = inputs.Output }),
                    Is.EqualTo("candidates"));
                Assert.That(Name(WithLists(inputs, new TensorView<int>(lists.Buffer, [1, 1, 2]), null)), Is.EqualTo("candidates.shape"));
                Assert.That(Name(WithLists(inputs, new TensorView<int>(lists.Buffer, [4]), null)), Is.EqualTo("candidates.rank"));
                Assert.That(Name(WithLists(inputs, lists, new TensorView<int>(lengths.Buffer, [1, 1]))), Is.EqualTo("candidate_lengths.shape"));
                Assert.That(Name(WithLists(inputs, new TensorView<int>(lists.Buffer, [1, 2, 2], [4, 1, 2]), null)), Is.EqualTo("candidates.strides"));
                Assert.That(() => Shortlist.Bound(FluxParameters.Explicit, 10),
                    Throws.TypeOf<ProteusInvalidArgumentException>().With.Property("ArgumentName").EqualTo("params.policy"));
            }
        }
        finally
        {
            owned.ForEach(o => o.Dispose());
        }
    }

    [Test]
    public void TheOtherPoliciesIgnoreTheLists()
    {
        var p = new ExplicitProblem { Seed = 10, SeqLen = 6, QueryLength = 2, Lists = [[1, 2], [0, 1]] };
        var owned = new List<IDisposable>();
        try
        {
            FluxInputs<float> inputs = ExplicitRunner.Build<float>(cpu, p, owned);
            new FluxAttention(cpu) { Tuning = TuningMode.Off }.Run(inputs, FluxParameters.Dense);
            float[] withLists = inputs.Output.Buffer.ToArray();
            new FluxAttention(cpu) { Tuning = TuningMode.Off }.Run(WithLists(inputs, null, null), FluxParameters.Dense);
            Assert.That(inputs.Output.Buffer.ToArray(), Is.EqualTo(withLists));
        }
        finally
        {
            owned.ForEach(o => o.Dispose());
        }
    }

    private static FluxInputs<float> WithLists(FluxInputs<float> inputs, TensorView<int>? lists, TensorView<int>? lengths) => new()
    {
        Query = inputs.Query, Key = inputs.Key, Value = inputs.Value, Output = inputs.Output, Lse = inputs.Lse,
        QueryOffset = inputs.QueryOffset, CandidateLists = lists, CandidateLengths = lengths,
    };

    /// <summary>SPEC §9 on rows with keys; rows without keys (inactive, empty, all out of range) exactly o = 0, lse = −∞.</summary>
    internal static void AssertMatches(ExplicitResult actual, ExplicitResult expected, ExplicitProblem p)
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(actual.Output, Has.None.NaN, "NaN in o");
            double error = ExplicitRunner.RelativeError(actual.Output, expected.Output);
            Assert.That(error, Is.LessThanOrEqualTo(DTypes.Tolerance(p.DType)), $"relative L2 error of o ({p})");
            for (int row = 0; row < expected.Lse.Length; row++)
            {
                if (float.IsNegativeInfinity(expected.Lse[row]))
                {
                    Assert.That(actual.Lse[row], Is.EqualTo(float.NegativeInfinity), $"lse of keyless row {row}");
                    Assert.That(actual.Output.AsSpan(row * p.HeadDim, p.HeadDim).ToArray(), Is.All.EqualTo(0.0), $"o of keyless row {row}");
                }
                else
                {
                    Assert.That(actual.Lse[row], Is.EqualTo(expected.Lse[row]).Within(1e-4 * Math.Max(1, Math.Abs(expected.Lse[row]))), $"lse of row {row}");
                }
            }
        }
    }
}
