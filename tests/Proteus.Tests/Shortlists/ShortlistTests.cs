using Proteus.Tests.Flux;
using Proteus.Tests.Reference;
using Proteus.Tests.Support;

namespace Proteus.Tests.Shortlists;

/// <summary>
/// Shortlist.Gather returns exactly the candidate sets of SPEC §3 and Appendix A, and Shortlist.Bound
/// bounds them. Hand-worked examples pin the reference itself to the SPEC text.
/// </summary>
[TestFixture]
public sealed class ShortlistTests
{
    private static readonly int[] SeqLens = [1, 2, 5, 17, 64, 100, 257, 1000];

    private Device device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenUnderTest();

    [OneTimeTearDown]
    public void CloseDevice() => device.Dispose();

    public static IEnumerable<TestCaseData> RandomBudgets()
    {
        // The rule-based policies: explicit lists have no rule to gather (Tests/Explicit cover them).
        foreach (var policy in RuleBasedPolicies.All)
        {
            for (int n = 0; n < 24; n++)
            {
                int seed = 100 * (int)policy + n;
                int seqLen = SeqLens[n % SeqLens.Length];
                var parameters = FluxCases.Budgets(new Random(seed), policy, seqLen, coversSequence: n % 5 == 4);
                yield return new TestCaseData(parameters, seqLen, seed)
                    .SetArgDisplayNames($"{policy} T{seqLen} W{parameters.Window} S{parameters.AnchorStride} A{parameters.AnchorCount} K{parameters.DnaCount} L{parameters.SeedCap} Lloc{parameters.SeedLocalCap} seed{seed}");
            }
        }
    }

    [TestCaseSource(nameof(RandomBudgets))]
    public void GatherEqualsTheBruteForceSetsAndStaysWithinTheBound(FluxParameters parameters, int seqLen, int seed)
    {
        var random = new Random(seed);
        // Batch 1 of 2, so a library that reads batch 0's salience is caught; half the cases with ties.
        bool ties = seed % 2 == 0;
        var salience = Enumerable.Range(0, 2 * seqLen).Select(_ => ties ? random.Next(4) / 4f : (float)random.NextDouble()).ToArray();
        var rows = seqLen <= 300
            ? Enumerable.Range(0, seqLen).Select(i => (long)i).ToArray()
            : Enumerable.Range(0, 120).Select(_ => (long)random.Next(seqLen)).Append(0).Append(seqLen - 1).ToArray();

        using var salienceBuffer = device.Upload<float>(salience);
        TensorView<float>? salienceView = parameters.DnaCount > 0 || random.Next(2) == 0
            ? new TensorView<float>(salienceBuffer, [2, seqLen])
            : null;
        var gathered = Shortlist.Gather(device, parameters, seqLen, salienceView, 1, rows);
        long bound = Shortlist.Bound(parameters, seqLen);

        Assert.That(gathered, Has.Length.EqualTo(rows.Length));
        for (int r = 0; r < rows.Length; r++)
        {
            var expected = CandidateSets.Of(parameters, seqLen, salience.AsSpan(seqLen, seqLen), rows[r]);
            Assert.That(gathered[r], Is.EqualTo(expected), $"C({rows[r]})");
            Assert.That(gathered[r], Has.Length.LessThanOrEqualTo(bound), $"|C({rows[r]})| against Shortlist.Bound");
        }
    }

    [Test]
    public void DefaultPolicyCandidatesNeverExceedWindowPlusAnchorsPlusDna([Values(CandidatePolicy.Aligned, CandidatePolicy.Relative)] CandidatePolicy policy)
    {
        // SPEC §3: |C(i)| ≤ W + A + K; checked on the reference, which the gather tests tie to the library.
        for (int seed = 0; seed < 40; seed++)
        {
            int seqLen = SeqLens[seed % SeqLens.Length];
            var random = new Random(seed);
            var parameters = FluxCases.Budgets(random, policy, seqLen, coversSequence: false);
            var salience = Enumerable.Range(0, seqLen).Select(_ => (float)random.NextDouble()).ToArray();
            for (long i = 0; i < seqLen; i += 1 + seqLen / 50)
            {
                Assert.That(CandidateSets.Of(parameters, seqLen, salience, i), Has.Length.LessThanOrEqualTo(parameters.Window + parameters.AnchorCount + parameters.DnaCount));
            }
        }
    }

    [Test]
    public void WindowCoveringTheSequenceGivesEveryEarlierKey(
        [Values(CandidatePolicy.Aligned, CandidatePolicy.Relative, CandidatePolicy.Seed)] CandidatePolicy policy)
    {
        const int SeqLen = 40;
        var parameters = new FluxParameters { Policy = policy, Window = SeqLen, AnchorStride = 3, AnchorCount = 2, SeedCap = SeqLen, SeedLocalCap = SeqLen };
        var rows = Enumerable.Range(0, SeqLen).Select(i => (long)i).ToArray();
        var gathered = Shortlist.Gather(device, parameters, SeqLen, null, 0, rows);
        for (int i = 0; i < SeqLen; i++)
        {
            var prefix = Enumerable.Range(0, i + 1).Select(j => (long)j).ToArray();
            Assert.That(gathered[i], Is.EqualTo(prefix), $"C({i}) from Shortlist.Gather");
            Assert.That(CandidateSets.Of(parameters, SeqLen, [], i), Is.EqualTo(prefix), $"C({i}) from the reference");
        }
    }

    // Hand-worked examples from the SPEC text: each pins the library and the brute-force reference.
    public static IEnumerable<TestCaseData> WorkedExamples()
    {
        float[] flat = Enumerable.Repeat(0.5f, 100).ToArray();
        float[] decreasing = Enumerable.Range(0, 100).Select(j => -(float)j).ToArray();
        float[] peaks = Enumerable.Range(0, 100).Select(j => j is 3 or 11 or 12 ? 1f : 0f).ToArray();

        yield return Example("Aligned anchors are the A largest multiples of S at or before i − W",
            new FluxParameters { Window = 10, AnchorStride = 8, AnchorCount = 3 }, flat, row: 50,
            [24, 32, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
        yield return Example("Aligned anchors are empty while i < W",
            new FluxParameters { Window = 10, AnchorStride = 2, AnchorCount = 3 }, flat, row: 9,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        yield return Example("Aligned DNA ties go to the larger key before the window",
            new FluxParameters { Window = 4, DnaCount = 2 }, flat, row: 10,
            [5, 6, 7, 8, 9, 10]);
        yield return Example("Aligned DNA takes the most salient keys before the window",
            new FluxParameters { Window = 3, DnaCount = 2 }, peaks, row: 14,
            [3, 11, 12, 13, 14]);
        yield return Example("Aligned DNA never reaches into the window",
            new FluxParameters { Window = 3, DnaCount = 2 }, peaks, row: 13,
            [3, 10, 11, 12, 13]);
        yield return Example("Relative anchors step back by S and merge at zero",
            new FluxParameters { Policy = CandidatePolicy.Relative, Window = 2, AnchorStride = 4, AnchorCount = 5 }, flat, row: 9,
            [0, 1, 5, 8, 9]);
        yield return Example("Relative anchors inside the window count once",
            new FluxParameters { Policy = CandidatePolicy.Relative, Window = 6, AnchorStride = 2, AnchorCount = 4 }, flat, row: 20,
            [12, 14, 15, 16, 17, 18, 19, 20]);
        yield return Example("Seed overflow keeps the L smallest indices, dropping i itself",
            new FluxParameters { Policy = CandidatePolicy.Seed, Window = 5, AnchorStride = 10, AnchorCount = 5, SeedCap = 3, SeedLocalCap = 1 }, flat, row: 50,
            [20, 30, 40]);
        yield return Example("Seed overflow drops the newest keys after DNA",
            new FluxParameters { Policy = CandidatePolicy.Seed, Window = 2, AnchorStride = 0, AnchorCount = 4, DnaCount = 3, SeedCap = 4, SeedLocalCap = 2 }, decreasing, row: 10,
            [0, 1, 2, 9]);
        yield return Example("Seed DNA includes the window and S = 0 disables anchors",
            new FluxParameters { Policy = CandidatePolicy.Seed, Window = 3, AnchorStride = 0, AnchorCount = 9, DnaCount = 2, SeedCap = 10, SeedLocalCap = 3 }, peaks, row: 12,
            [10, 11, 12]);
        yield return Example("Seed local slots are min(W, L, cap_loc)",
            new FluxParameters { Policy = CandidatePolicy.Seed, Window = 8, AnchorStride = 7, AnchorCount = 1, SeedCap = 5, SeedLocalCap = 3 }, flat, row: 30,
            [23, 28, 29, 30]);
        yield return Example("Relative budgets far beyond the sequence give the whole prefix",
            new FluxParameters { Policy = CandidatePolicy.Relative, Window = 1, AnchorStride = 1, AnchorCount = 1_000_000_000_000, DnaCount = 1_000_000_000_000 }, flat, row: 6,
            [0, 1, 2, 3, 4, 5, 6]);
        yield return Example("Aligned budgets far beyond the sequence give the whole prefix",
            new FluxParameters { Window = 3, AnchorStride = 1_000_000, AnchorCount = 1_000_000, DnaCount = 1_000_000_000_000 }, flat, row: 6,
            [0, 1, 2, 3, 4, 5, 6]);
        yield return Example("Seed row 0 is itself",
            new FluxParameters { Policy = CandidatePolicy.Seed, Window = 1, AnchorStride = 1, AnchorCount = 3, DnaCount = 3, SeedCap = 1, SeedLocalCap = 1 }, flat, row: 0,
            [0]);
    }

    private static TestCaseData Example(string name, FluxParameters parameters, float[] salience, long row, long[] expected) =>
        new TestCaseData(parameters, salience, row, expected).SetArgDisplayNames(name);

    [TestCaseSource(nameof(WorkedExamples))]
    public void WorkedExampleFromTheSpec(FluxParameters parameters, float[] salience, long row, long[] expected)
    {
        const int SeqLen = 100;
        Assert.That(CandidateSets.Of(parameters, SeqLen, salience, row), Is.EqualTo(expected), "brute-force reference");
        using var salienceBuffer = device.Upload<float>(salience);
        var gathered = Shortlist.Gather(device, parameters, SeqLen, new TensorView<float>(salienceBuffer, [1, SeqLen]), 0, [row]);
        Assert.That(gathered[0], Is.EqualTo(expected), "Shortlist.Gather");
    }

    [Test]
    public void GatherAllocatesByTheRowsAskedForNotByTheBound()
    {
        // Dense at T = 2^27: the bound is T, and sizing the output by it took 1 GiB for one row.
        const long SeqLen = 1L << 27;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var gathered = Shortlist.Gather(device, FluxParameters.Dense, SeqLen, null, 0, [5, 2]);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(gathered, Is.EqualTo(new[] { new long[] { 0, 1, 2, 3, 4, 5 }, new long[] { 0, 1, 2 } }));
        Assert.That(allocated, Is.LessThan(1 << 20), "bytes allocated on the managed heap by Gather");
    }

    [Test]
    public void GatherWithDnaOverALongSequenceReadsOnlyThePrefixItNeeds()
    {
        // Salience of T = 2^20 with its peaks early: row 40's DNA keys are the peaks before its window.
        const int SeqLen = 1 << 20;
        var salience = new float[SeqLen];
        salience[3] = salience[17] = 1;
        using var salienceBuffer = device.Upload<float>(salience);
        var parameters = new FluxParameters { Window = 8, DnaCount = 2 };
        var gathered = Shortlist.Gather(device, parameters, SeqLen, new TensorView<float>(salienceBuffer, [1, SeqLen]), 0, [40]);
        Assert.That(gathered[0], Is.EqualTo(new long[] { 3, 17, 33, 34, 35, 36, 37, 38, 39, 40 }));
    }

    [TestCaseSource(nameof(RandomBudgets))]
    public void TotalIsTheSumOfTheGatheredSetSizes(FluxParameters parameters, int seqLen, int seed)
    {
        var random = new Random(seed);
        var salience = Enumerable.Range(0, 2 * seqLen).Select(_ => (float)random.Next(5)).ToArray();
        using var salienceBuffer = device.Upload<float>(salience);
        var salienceView = new TensorView<float>(salienceBuffer, [2, seqLen]);
        long first = random.Next(seqLen);
        long count = 1 + random.Next(seqLen - (int)first);
        long[] rows = Enumerable.Range((int)first, (int)count).Select(i => (long)i).ToArray();
        long expected = Shortlist.Gather(device, parameters, seqLen, salienceView, 1, rows).Sum(set => (long)set.Length);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Shortlist.Total(device, parameters, seqLen, salienceView, 1, first, count), Is.EqualTo(expected), $"rows [{first}, {first + count})");
            Assert.That(Shortlist.Total(device, parameters, seqLen, salienceView, 1, 0, seqLen),
                Is.EqualTo(Enumerable.Range(0, seqLen).Sum(i => (long)CandidateSets.Of(parameters, seqLen, salience.AsSpan(seqLen, seqLen).ToArray(), i).Length)),
                "all rows against the brute-force reference");
        }
    }

    [Test]
    public void TotalIsBoundedByTheRowsAskedFor()
    {
        // T = 2^40: walking the prefix would take hours; three rows take no time.
        const long SeqLen = 1L << 40;
        var aligned = new FluxParameters { Window = 341, AnchorStride = 256, AnchorCount = 171 };
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Shortlist.Total(device, FluxParameters.Dense, SeqLen, null, 0, SeqLen - 3, 3), Is.EqualTo(3 * SeqLen - 3), "Σ (i + 1) over the last three rows");
            Assert.That(Shortlist.Total(device, aligned, SeqLen, null, 0, SeqLen - 3, 3), Is.EqualTo(3 * (341 + 171)));
            Assert.That(Shortlist.Total(device, aligned, SeqLen, null, 0, 0, 5), Is.EqualTo(1 + 2 + 3 + 4 + 5), "rows inside the window");
        }
    }

    [Test]
    public void TotalOfRowsOutsideTheSequenceIsRejected()
    {
        var exception = Assert.Throws<ProteusInvalidArgumentException>(() => Shortlist.Total(device, FluxParameters.Dense, 10, null, 0, 8, 3));
        Assert.That(exception!.ArgumentName, Is.AnyOf("row_count", "first_row"));
    }
}
