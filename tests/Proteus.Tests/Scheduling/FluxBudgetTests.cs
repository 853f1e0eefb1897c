namespace Proteus.Tests.Scheduling;

/// <summary>
/// The budgets of SPEC §4: the Continuous formulas (worked examples, α = 0 is exact dense, monotonicity in
/// α) and the Seed policy of Appendix A (its stated cases, and cases worked from its formulas).
/// </summary>
[TestFixture]
public sealed class FluxBudgetTests
{
    private static readonly FluxBudgetOptions WithDna = new() { Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna };

    private static double Ramp(long seqLen) => new AlphaRamp(64, 20000).Evaluate(seqLen);

    [Test]
    public void DefaultFractionsAreTwoThirdsAndOneThirdWithDnaOffAndSixThreeOneWithDnaOn()
    {
        PieceFractions off = new FluxBudget().Fractions;
        Assert.That(off.Local, Is.EqualTo(2.0 / 3).Within(1e-15));
        Assert.That(off.Anchors, Is.EqualTo(1.0 / 3).Within(1e-15));
        Assert.That(off.Dna, Is.EqualTo(0.0));
        PieceFractions on = new FluxBudget(WithDna).Fractions;
        Assert.That(on.Local, Is.EqualTo(0.6).Within(1e-15));
        Assert.That(on.Anchors, Is.EqualTo(0.3).Within(1e-15));
        Assert.That(on.Dna, Is.EqualTo(0.1).Within(1e-15));
    }

    // Each: L_t, then L = round(T + α(L_t − T)), A = floor(L·α·f_anc), K = floor(L·α·f_dna), W = L − A − K.
    [TestCase("defaults, T 20000, α 1: L = L_t = 512, A = floor(512/3)", 20000L, 1.0, 512.0, 512L, 342L, 170L, 0L)]
    [TestCase("defaults, T 4096, α 0.25: L = 4096 − 896, A = floor(3200·0.25/3)", 4096L, 0.25, 512.0, 3200L, 2934L, 266L, 0L)]
    [TestCase("defaults, T 1000, α 0.3: L = round(1000 − 0.3·488) = 854, A = floor(85.4)", 1000L, 0.3, 512.0, 854L, 769L, 85L, 0L)]
    [TestCase("defaults, T 100 < L_t, α 1: L = T", 100L, 1.0, 512.0, 100L, 67L, 33L, 0L)]
    public void ContinuousWorkedExamples(string name, long seqLen, double alpha, double target, long length, long window, long anchors, long dna)
    {
        Check(new FluxBudget().Compute(seqLen, alpha), target, length, window, anchors, dna);
    }

    [Test]
    public void ContinuousWithDnaSplitsTheSparseShare()
    {
        // T 10000, α 0.5: L = 10000 − 0.5·9488 = 5256; A = floor(5256·0.15) = 788; K = floor(5256·0.05) = 262.
        Check(new FluxBudget(WithDna).Compute(10000, 0.5), 512, 5256, 4206, 788, 262);
    }

    [Test]
    public void ContinuousTargetSchedules()
    {
        // Sqrt: 512·sqrt(5000/20000) = 256.
        Check(new FluxBudget(new FluxBudgetOptions { Target = ShortlistTarget.Sqrt }).Compute(5000, 1), 256, 256, 171, 85, 0);
        // Log: 512·log2 1024 / log2 20000 = 5120 / 14.2877… = 358.349…
        var log = new FluxBudget(new FluxBudgetOptions { Target = ShortlistTarget.Log }).Compute(1024, 1);
        Assert.That(log.TargetLength, Is.EqualTo(5120 / Math.Log2(20000)).Within(1e-12));
        Check(log, log.TargetLength, 358, 239, 119, 0);
        // Budget 2^24 with H 8, D 64: T 256 → floor(2^24 / 2^17) = 128; T 4096 → 8, clamped up to L_min 64.
        var budget = new FluxBudget(new FluxBudgetOptions { Target = ShortlistTarget.Budget, CostBudget = 1 << 24 });
        Check(budget.Compute(new AttentionShape(4, 8, 256, 64), 1), 128, 128, 86, 42, 0);
        Check(budget.Compute(new AttentionShape(4, 8, 4096, 64), 1), 64, 64, 43, 21, 0);
        // The runtime scale multiplies the target before the clamp.
        Check(new FluxBudget().Compute(20000, 1, scale: 0.5), 256, 256, 171, 85, 0);
        Check(new FluxBudget().Compute(20000, 1, scale: 0.01), 64, 64, 43, 21, 0);
    }

    [Test]
    public void TheBudgetTargetNeedsTheShape()
    {
        var budget = new FluxBudget(new FluxBudgetOptions { Target = ShortlistTarget.Budget, CostBudget = 1e9 });
        Assert.Throws<InvalidOperationException>(() => budget.Compute(1000, 0.5));
    }

    [Test]
    public void ContinuousAtAlphaZeroIsExactlyDense()
    {
        var random = new Random(4);
        foreach (FluxBudgetOptions options in ContinuousConfigurations(random))
        {
            var budget = new FluxBudget(options);
            for (int n = 0; n < 200; n++)
            {
                long seqLen = n < 20 ? n + 1 : random.NextInt64(1, 2_000_000);
                ShortlistBudget b = budget.Compute(new AttentionShape(2, 8, seqLen, 64), 0, scale: 0.1 + 4 * random.NextDouble());
                Assert.That((b.Length, b.Window, b.AnchorCount, b.DnaCount), Is.EqualTo((seqLen, seqLen, 0L, 0L)), $"{options} T {seqLen}");
                Assert.That(b.ToFluxParameters().Window, Is.EqualTo(seqLen));
            }
        }
    }

    /// <summary>
    /// For a fixed T, as α grows: L never grows; W + A + K (the shortlist bound) never grows; W never grows
    /// when at most one of anchors and DNA is on (with both, the two floors can each drop by one as L drops
    /// by one, so W may rise by one); and when L_t ≥ T (so L = T throughout) A and K never shrink. A and K are
    /// not monotone in general: see <see cref="AnchorCountIsNotMonotoneInAlpha"/>.
    /// </summary>
    [Test]
    public void ContinuousBudgetsAreMonotoneInAlpha()
    {
        var random = new Random(2024);
        foreach (FluxBudgetOptions options in ContinuousConfigurations(random))
        {
            var budget = new FluxBudget(options);
            bool singleSparsePiece = !(options.Pieces.HasFlag(ShortlistPieces.Anchors) && options.Pieces.HasFlag(ShortlistPieces.Dna));
            for (int n = 0; n < 300; n++)
            {
                long seqLen = random.Next(3) == 0 ? random.NextInt64(1, 600) : random.NextInt64(1, 200_000);
                var shape = new AttentionShape(1, 4, seqLen, 32);
                double scale = random.Next(2) == 0 ? 1 : 0.25 + 2 * random.NextDouble();
                double[] alphas = [.. Enumerable.Range(0, 12).Select(_ => random.NextDouble()).Append(0).Append(1).Append(random.NextDouble() * 1e-9).Order()];
                ShortlistBudget? previous = null;
                foreach (double alpha in alphas)
                {
                    ShortlistBudget b = budget.Compute(shape, alpha, scale);
                    Assert.That(b.Length, Is.InRange(1, seqLen));
                    Assert.That(b.Window + b.AnchorCount + b.DnaCount, Is.EqualTo(b.Length), "W + A + K = L while f_loc > 0");
                    if (previous is not null)
                    {
                        string at = $"{options} T {seqLen} scale {scale}: α {previous.Alpha} → {alpha}";
                        Assert.That(b.Length, Is.LessThanOrEqualTo(previous.Length), $"L, {at}");
                        Assert.That(b.Window + b.AnchorCount + b.DnaCount, Is.LessThanOrEqualTo(previous.Window + previous.AnchorCount + previous.DnaCount), $"W + A + K, {at}");
                        if (singleSparsePiece)
                        {
                            Assert.That(b.Window, Is.LessThanOrEqualTo(previous.Window), $"W, {at}");
                        }
                        if (b.TargetLength >= seqLen)
                        {
                            Assert.That(b.AnchorCount, Is.GreaterThanOrEqualTo(previous.AnchorCount), $"A with L = T, {at}");
                            Assert.That(b.DnaCount, Is.GreaterThanOrEqualTo(previous.DnaCount), $"K with L = T, {at}");
                        }
                    }
                    previous = b;
                }
            }
        }
    }

    [Test]
    public void AnchorCountIsNotMonotoneInAlpha()
    {
        // T 20000: at α 0.5, L = 10256 and A = floor(10256·0.5/3) = 1709; at α 1, L = 512 and A = 170.
        var budget = new FluxBudget();
        Assert.That(budget.Compute(20000, 0.5).AnchorCount, Is.EqualTo(1709));
        Assert.That(budget.Compute(20000, 1).AnchorCount, Is.EqualTo(170));
    }

    [Test]
    public void ContinuousMapsToAlignedParameters()
    {
        var options = new FluxBudgetOptions { AnchorStride = 64, Pieces = WithDna.Pieces };
        ShortlistBudget b = new FluxBudget(options).Compute(10000, 0.5);
        Assert.That(b.ToFluxParameters(), Is.EqualTo(new FluxParameters
        {
            Policy = CandidatePolicy.Aligned, Window = 4206, AnchorStride = 64, AnchorCount = 788, DnaCount = 262,
        }));
        Assert.That(b.LocalCap, Is.EqualTo(b.Window));
    }

    private static readonly FluxBudgetOptions SeedDefaults = new() { Policy = BudgetPolicy.Seed };

    // SPEC Appendix A, "Defaults at automatic α (ramp 64 → 20000)": (L, W, cap_loc, cap_anc, cap_dna).
    [TestCase("Appendix A: T 64 → (64, 64, 57, 7, 0)", 64L, 64L, 64L, 57L, 7L, 0L)]
    [TestCase("Appendix A: 1024 → (512, 512, 452, 60, 0)", 1024L, 512L, 512L, 452L, 60L, 0L)]
    [TestCase("Appendix A: 4096 → (512, 512, 434, 78, 0)", 4096L, 512L, 512L, 434L, 78L, 0L)]
    [TestCase("Appendix A: ≥ 20000 → (512, 512, 341, 171, 0), at 20000", 20000L, 512L, 512L, 341L, 171L, 0L)]
    [TestCase("Appendix A: ≥ 20000 → (512, 512, 341, 171, 0), at 100000", 100000L, 512L, 512L, 341L, 171L, 0L)]
    public void SeedReproducesAppendixAAtAutomaticAlpha(string source, long seqLen, long length, long window, long localCap, long anchorCap, long dnaCap)
    {
        CheckSeed(new FluxBudget(SeedDefaults).Compute(seqLen, Ramp(seqLen)), length, window, localCap, anchorCap, dnaCap);
    }

    [Test]
    public void SeedAtSmallTMayExceedT()
    {
        // Appendix A: "T = 64, α = 0.25 gives L = W = 176 with defaults" (int(0.25·512 + 0.75·64)).
        // Caps worked from its formulas: w = (0.8041…, 0.1583…)/0.9625 → round(176·0.8355…) = 147, round(176·0.1644…) = 29.
        CheckSeed(new FluxBudget(SeedDefaults).Compute(64, 0.25), 176, 176, 147, 29, 0);
    }

    // Cases worked by hand from Appendix A's formulas (each states the step that makes it interesting).
    [Test]
    public void SeedWithDnaGivesDnaItsRoundedShare()
    {
        // T 4096, α 0.5: w = 0.5·(0.85, 0.10, 0.05) + 0.5·(0.6, 0.3, 0.1) = (0.725, 0.2, 0.075), sum 1:
        // round(512·0.725) = 371, round(102.4) = 102, round(38.4) = 38; the leftover slot goes to local.
        var options = SeedDefaults with { Pieces = WithDna.Pieces };
        CheckSeed(new FluxBudget(options).Compute(4096, 0.5), 512, 512, 372, 102, 38);
        // α 1: (0.6, 0.3, 0.1) of 512 = 307.2, 153.6, 51.2 → 307, 154, 51.
        CheckSeed(new FluxBudget(options).Compute(20000, 1), 512, 512, 307, 154, 51);
    }

    [Test]
    public void SeedStrideZeroDisablesAnchors()
    {
        // "stride S (256; 0 disables anchors)": every slot is local.
        ShortlistBudget b = new FluxBudget(SeedDefaults with { AnchorStride = 0 }).Compute(4096, Ramp(4096));
        CheckSeed(b, 512, 512, 512, 0, 0);
        Assert.That(b.AnchorStride, Is.EqualTo(0));
    }

    [Test]
    public void SeedLocalSlotsCutByTheWindowAreNotGivenAway()
    {
        // Log, L_base 16, W_base 16, L_max 512: L_t = ceil(16·log2 1001) = 160, W_t = min(16, 160) = 16; caps
        // round(160·2/3) = 107 and round(160/3) = 53, then cap_loc = min(107, W) = 16.
        var options = SeedDefaults with { Target = ShortlistTarget.Log, BaseLength = 16, MaxLength = 512, WindowBase = 16 };
        CheckSeed(new FluxBudget(options).Compute(1000, 1), 160, 16, 16, 53, 0);
    }

    [Test]
    public void SeedSqrtAndMemoryCapTargets()
    {
        // Sqrt, L_base 8: L_t = ceil(8·sqrt(100)) = 80, clamped to L_max 8.
        CheckSeed(new FluxBudget(SeedDefaults with { Target = ShortlistTarget.Sqrt, BaseLength = 8 }).Compute(100, 1), 8, 8, 5, 3, 0);
        // MemCap 1024 MB, H 8, B 1, D 64, T 2048: floor(2^30 / (8·2048·64·8)) = 128.
        var memCap = SeedDefaults with { Target = ShortlistTarget.Budget, CostBudget = FluxBudgetOptions.SeedMemoryBudget(1024) };
        CheckSeed(new FluxBudget(memCap).Compute(new AttentionShape(1, 8, 2048, 64), 1), 128, 128, 85, 43, 0);
    }

    [Test]
    public void SeedWithoutLocalKeepsCapLocZero()
    {
        // Anchors and DNA only, T 4096, α 0.5: w = (0.5·0.10 + 0.5·0.75, 0.5·0.05 + 0.5·0.25)/0.575 = (0.7391…, 0.2608…):
        // round(378.4) = 378, round(133.6) = 134; cap_loc stays 0 ("with local disabled cap_loc stays 0"),
        // where it used to become min(W, floor(L/4)) = 128 local keys the original never had.
        var options = SeedDefaults with { Pieces = ShortlistPieces.Anchors | ShortlistPieces.Dna };
        CheckSeed(new FluxBudget(options).Compute(4096, 0.5), 512, 512, 0, 378, 134);
    }

    [Test]
    public void SeedMapsToSeedParameters()
    {
        ShortlistBudget b = new FluxBudget(SeedDefaults).Compute(4096, Ramp(4096));
        Assert.That(b.ToFluxParameters(), Is.EqualTo(new FluxParameters
        {
            Policy = CandidatePolicy.Seed, SeedCap = 512, SeedLocalCap = 434, Window = 512, AnchorCount = 78, DnaCount = 0, AnchorStride = 256,
        }));
    }

    private static IEnumerable<FluxBudgetOptions> ContinuousConfigurations(Random random)
    {
        yield return new FluxBudgetOptions();
        yield return WithDna;
        yield return new FluxBudgetOptions { Pieces = ShortlistPieces.Local };
        yield return new FluxBudgetOptions { Pieces = ShortlistPieces.Local | ShortlistPieces.Dna, Target = ShortlistTarget.Sqrt };
        yield return WithDna with { Target = ShortlistTarget.Log, LocalFraction = 0.1, AnchorFraction = 0.5, DnaFraction = 0.4 };
        yield return new FluxBudgetOptions { Target = ShortlistTarget.Budget, CostBudget = 1e9, MinLength = 1, MaxLength = 100_000 };
        for (int n = 0; n < 4; n++)
        {
            yield return new FluxBudgetOptions
            {
                Target = (ShortlistTarget)random.Next(4),
                CostBudget = random.NextDouble() * 1e10 + 1,
                Pieces = ShortlistPieces.Local | (ShortlistPieces)(random.Next(4) << 1),
                BaseLength = random.Next(1, 5000),
                MinLength = random.Next(1, 10),
                MaxLength = random.Next(5000, 10000),
                LocalFraction = 0.05 + 0.95 * random.NextDouble(),
                AnchorFraction = random.NextDouble(),
                DnaFraction = random.NextDouble(),
                SwitchContext = random.Next(2, 100_000),
            };
        }
    }

    private static void Check(ShortlistBudget b, double target, long length, long window, long anchors, long dna)
    {
        Assert.That(b.Policy, Is.EqualTo(BudgetPolicy.Continuous));
        Assert.That(b.TargetLength, Is.EqualTo(target).Within(1e-9), "L_t");
        Assert.That((b.Length, b.Window, b.AnchorCount, b.DnaCount), Is.EqualTo((length, window, anchors, dna)), "(L, W, A, K)");
    }

    private static void CheckSeed(ShortlistBudget b, long length, long window, long localCap, long anchorCap, long dnaCap)
    {
        Assert.That(b.Policy, Is.EqualTo(BudgetPolicy.Seed));
        Assert.That((b.Length, b.Window, b.LocalCap, b.AnchorCount, b.DnaCount), Is.EqualTo((length, window, localCap, anchorCap, dnaCap)), "(L, W, cap_loc, cap_anc, cap_dna)");
    }
}
