using Proteus.Tests.Reference;
using Proteus.Tests.Support;

namespace Proteus.Tests.Scheduling;

/// <summary>
/// SPEC Appendix A, "The Seed policy, exactly": one test per rule, one per defect of issue 13 parts 1–2, and
/// the budget rows of the original's defaults, of a no-local configuration and of L_base 16 with the
/// default window against <see cref="SeedOracle"/> (Appendix A written independently in the tests).
/// </summary>
[TestFixture]
public sealed class SeedPolicyTests
{
    private static readonly long[] Lengths = [1, 2, 63, 64, 65, 100, 127, 513, 1000, 1024, 4095, 4096, 8191, 19999, 20000, 20001, 65537, 131072, 1 << 20];
    private static readonly double[] Alphas = [0, 0.1, 0.25, 0.31, 0.5, 0.75, 0.9, 0.95, 1];

    private static readonly FluxBudgetOptions Seed = new() { Policy = BudgetPolicy.Seed };

    public static IEnumerable<TestCaseData> Rows()
    {
        TestCaseData Row(string name, FluxBudgetOptions options, SeedConfig config) => new TestCaseData(options, config).SetArgDisplayNames(name);
        yield return Row("the original's defaults", Seed, new SeedConfig());
        yield return Row("no local: anchors + dna", Seed with { Pieces = ShortlistPieces.Anchors | ShortlistPieces.Dna },
            new SeedConfig { Local = false, Dna = true });
        yield return Row("no local: anchors only", Seed with { Pieces = ShortlistPieces.Anchors }, new SeedConfig { Local = false });
        yield return Row("L_base 16, default window", Seed with { BaseLength = 16 }, new SeedConfig { BaseLength = 16 });
        yield return Row("L_base 16, default window, log, L_max 512", Seed with { BaseLength = 16, Target = ShortlistTarget.Log, MaxLength = 512 },
            new SeedConfig { BaseLength = 16, Target = TargetSchedule.Log, MaxLength = 512 });
        yield return Row("sqrt with dna, scale", Seed with { Target = ShortlistTarget.Sqrt, BaseLength = 32, MaxLength = 2048, MinLength = 128, Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna },
            new SeedConfig { Target = TargetSchedule.Sqrt, BaseLength = 32, MaxLength = 2048, MinLength = 128, Dna = true });
    }

    [TestCaseSource(nameof(Rows))]
    public void BudgetRowsReproduceTheAppendixAFormulas(FluxBudgetOptions options, SeedConfig config)
    {
        var budget = new FluxBudget(options);
        foreach (double scale in new[] { 1.0, 0.5, 1.37 })
        {
            foreach (long t in Lengths)
            {
                foreach (double alpha in Alphas.Append(new AlphaRamp(64, 20000).Evaluate(t)))
                {
                    ShortlistBudget b = budget.Compute(t, alpha, scale);
                    SeedRow expected = SeedOracle.Budget(config with { Scale = scale }, t, alpha);
                    Assert.That(new SeedRow(b.Length, b.Window, b.LocalCap, b.AnchorCount, b.DnaCount), Is.EqualTo(expected), $"T {t}, α {alpha}, s {scale}");
                }
            }
        }
    }

    [Test]
    public void RoundingIsHalfToEvenAndIntTruncates()
    {
        // L_base 10 (L_min = L_max = 10), α 1, f (0.25, 0.25, 0.5): caps round(2.5) = 2, round(2.5) = 2, 5; the one
        // slot left goes to local: (3, 2, 5). Half away from zero would give 3, 3, 5 = 11 > 10, then (3, 3, 4).
        var tenSlots = Seed with { BaseLength = 10, Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna, LocalFraction = 0.25, AnchorFraction = 0.25, DnaFraction = 0.5 };
        ShortlistBudget b = new FluxBudget(tenSlots).Compute(100_000, 1);
        Assert.That((b.Length, b.LocalCap, b.AnchorCount, b.DnaCount), Is.EqualTo((10L, 3L, 2L, 5L)));
        // T 64, α 0.31: L = int(0.31·512 + 0.69·64) = int(202.88) = 202, not 203.
        Assert.That(new FluxBudget(Seed).Compute(64, 0.31).Length, Is.EqualTo(202L));
    }

    [Test]
    public void LMinIsMin64LBaseAndLMaxDefaultsToLBaseAtLeastLMin()
    {
        var small = new FluxBudget(Seed with { BaseLength = 16 });
        Assert.That((small.MinLength, small.MaxLength), Is.EqualTo((16L, 16L)));
        var large = new FluxBudget(Seed with { BaseLength = 1000 });
        Assert.That((large.MinLength, large.MaxLength), Is.EqualTo((64L, 1000L)));
    }

    [Test]
    public void WindowBaseIsTheLinearWindowNotLBase()
    {
        // Defect: W_base followed L_base. It is the original's attn_linear_window, 512 whatever L_base is.
        var budget = new FluxBudget(Seed with { BaseLength = 16 });
        Assert.That(budget.WindowBase, Is.EqualTo(512L));
        // L_d = clamp(min(T, max(16, 512 + floor(4096/32))), 16, 16) = 16 and W_d = max(512, 512) = 512, clamped to L = 16;
        // with W_base = L_base the dense window would be max(16, 512) as well, so look at W_t instead: α 1, L_t = 16.
        Assert.That(budget.Compute(4096, 1).Window, Is.EqualTo(16L));
        // L_base 1000, T 2048, α 0: L_d = min(2048, max(64, 512 + 64)) = 576 (W_base 512), not clamp(1000 + 64, 64, 1000) = 1000.
        Assert.That(new FluxBudget(Seed with { BaseLength = 1000 }).Compute(2048, 0).Length, Is.EqualTo(576L));
    }

    [Test]
    public void WindowBaseNullMeansLBase()
    {
        // "a value ≤ 0 means L_base": the options say it with null. L_base 1000, L_max 2000, T 2048, α 0:
        // L_d = min(2048, max(64, 1000 + 64)) = 1064 (with W_base 512 it would be 576).
        var budget = new FluxBudget(Seed with { BaseLength = 1000, MaxLength = 2000, WindowBase = null });
        Assert.That((budget.WindowBase, budget.Compute(2048, 0).Length), Is.EqualTo((1000L, 1064L)));
    }

    [Test]
    public void FractionsAreClampedNormalisedAndDisabledPiecesZeroed()
    {
        PieceFractions f = new FluxBudget(Seed).Fractions;
        Assert.That((f.Local, f.Anchors, f.Dna), Is.EqualTo((2.0 / 3, 1.0 / 3, 0.0)).Using<(double, double, double)>((x, y) =>
            Math.Abs(x.Item1 - y.Item1) < 1e-15 && Math.Abs(x.Item2 - y.Item2) < 1e-15 && x.Item3 == y.Item3));
    }

    [Test]
    public void StrideZeroDisablesAnchors()
    {
        ShortlistBudget b = new FluxBudget(Seed with { AnchorStride = 0 }).Compute(20000, 1);
        Assert.That((b.AnchorCount, b.AnchorStride, b.LocalCap), Is.EqualTo((0L, 0L, 512L)));
    }

    [Test]
    public void CapLocFallbackAppliesOnlyWithLocalEnabled()
    {
        // Local enabled with f_loc 0, α 1: w = (0, 1, 0), caps (0, 512, 0), cap_loc = min(0, W) = 0 → min(512, floor(512/4)) = 128.
        ShortlistBudget withLocal = new FluxBudget(Seed with { LocalFraction = 0 }).Compute(20000, 1);
        Assert.That((withLocal.LocalCap, withLocal.AnchorCount), Is.EqualTo((128L, 512L)));
        // The same split with local disabled keeps cap_loc 0.
        ShortlistBudget withoutLocal = new FluxBudget(Seed with { Pieces = ShortlistPieces.Anchors }).Compute(20000, 1);
        Assert.That((withoutLocal.LocalCap, withoutLocal.AnchorCount), Is.EqualTo((0L, 512L)));
    }

    [Test]
    public void LocalDisabledAddsNoLocalKeys()
    {
        // Defect: ToFluxParameters passed a local cap and the list gained keys the original never had.
        ShortlistBudget b = new FluxBudget(Seed with { Pieces = ShortlistPieces.Anchors }).Compute(4096, 1);
        FluxParameters p = b.ToFluxParameters();
        Assert.That(p.SeedLocalCap, Is.EqualTo(0L));
        using Device device = TestDevices.OpenUnderTest();
        long[] rows = [0, 1, 255, 256, 700, 4095];
        long[][] lists = Shortlist.Gather(device, p, 4096, null, 0, rows);
        for (int r = 0; r < rows.Length; r++)
        {
            long i = rows[r];
            // Appendix A: anchors max(0, i − s·S), s = 1 … min(cap_anc, L, T), union {i}, sorted, first L.
            var expected = new SortedSet<long> { i };
            for (long s = 1; s <= Math.Min(b.AnchorCount, Math.Min(b.Length, 4096)); s++)
            {
                expected.Add(Math.Max(0, i - s * 256));
            }
            Assert.That(lists[r], Is.EqualTo(expected.Take((int)b.Length).ToArray()), $"row {i}");
            Assert.That(lists[r], Is.EqualTo(CandidateSets.Of(p, 4096, default, i)), $"row {i} (reference)");
        }
    }

    [Test]
    public void SeedListWithCapLocZeroMatchesTheReferenceWithDna()
    {
        float[] salience = Enumerable.Range(0, 300).Select(j => (float)Math.Sin(j * 0.37)).ToArray();
        FluxParameters p = FluxParameters.SeedCandidates(cap: 12, window: 40, anchorStride: 7, ShortlistPieces.Anchors | ShortlistPieces.Dna, anchorCap: 5, dnaCap: 6);
        using Device device = TestDevices.OpenUnderTest();
        using var buffer = device.Upload<float>(salience);
        long[] rows = [0, 3, 50, 151, 299];
        long[][] lists = Shortlist.Gather(device, p, 300, new TensorView<float>(buffer, [1, 300]), 0, rows);
        for (int r = 0; r < rows.Length; r++)
        {
            long[] expected = CandidateSets.Of(p, 300, salience, rows[r]);
            Assert.That(lists[r], Is.EqualTo(expected), $"row {rows[r]}");
            Assert.That(expected, Does.Contain(rows[r]).Or.Property("Length").EqualTo(12), "{i} is kept unless the list overflows");
            Assert.That(expected.Count(j => j > rows[r] - 40 && j < rows[r]), Is.LessThanOrEqualTo(6 + 5), "no local window beyond anchors and DNA");
        }
    }

    [Test]
    public void UnsetCapsMeanUpToL()
    {
        // Defect: unset anchor and DNA counts meant 0. The builder's convention: null is L for an enabled piece.
        FluxParameters all = FluxParameters.SeedCandidates(100, 16, 8, ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna);
        Assert.That((all.SeedCap, all.SeedLocalCap, all.AnchorCount, all.DnaCount, all.Window, all.AnchorStride), Is.EqualTo((100L, 100L, 100L, 100L, 16L, 8L)));
        FluxParameters noLocal = FluxParameters.SeedCandidates(100, 16, 8, ShortlistPieces.Anchors, anchorCap: 3);
        Assert.That((noLocal.SeedLocalCap, noLocal.AnchorCount, noLocal.DnaCount), Is.EqualTo((0L, 3L, 0L)));
        Assert.That(() => FluxParameters.SeedCandidates(100, 16, 8, ShortlistPieces.Anchors, localCap: 4),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("localCap"));
    }

    [Test]
    public void InitialLScaleIsConfigurable()
    {
        // Defect: attn_linear_L_scale could not be set for derived runs. s 0.5, Fixed: L_t = ceil(0.5·512) = 256.
        var schedule = new AlphaSchedule(new AlphaScheduleOptions { SeqLow = 64, InitialBudgetScale = 0.5 });
        AlphaDecision decision = schedule.Evaluate(40000);
        Assert.That(decision.BudgetScale, Is.EqualTo(0.5));
        Assert.That(new FluxBudget(Seed).Compute(40000, decision.Alpha, decision.BudgetScale).Length, Is.EqualTo(256L));
        Assert.That(() => new AlphaSchedule(new AlphaScheduleOptions
        {
            InitialBudgetScale = 8,
            LatencyController = new LatencyControllerOptions { TargetLatency = TimeSpan.FromMilliseconds(1), Moves = LatencyTarget.BudgetScale },
        }), Throws.ArgumentException.With.Property("ParamName").EqualTo("InitialBudgetScale"));
    }

    [Test]
    public void NucleusHeadCountIsPublic()
    {
        // Defect: no public entry point. Sorted 0.5, 0.3, 0.1, 0.1: 0.5 + 0.3 = 0.8 ≥ 0.75 → 2; p = 0.85 → 3.
        double[] mean = [0.1, 0.5, 0.3, 0.1];
        Assert.That(TokenSparsity.NucleusHeadCount(mean, 0.75), Is.EqualTo(2));
        Assert.That(TokenSparsity.NucleusHeadCount(mean, 0.85), Is.EqualTo(3));
        Assert.That(() => TokenSparsity.NucleusHeadCount(mean, 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
