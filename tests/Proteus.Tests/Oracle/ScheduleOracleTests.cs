using Proteus.Tests.Support;

namespace Proteus.Tests.Oracle;

/// <summary>
/// The oracle's schedules on SPEC §4's own examples, and managed/Proteus/Scheduling checked against the
/// oracle over many T and α.
/// </summary>
[TestFixture]
public sealed class ScheduleOracleTests
{
    // Every T to 3000, then a sparse sweep past every threshold (seq_low, 2048, 4096, switch_ctx) to 60000.
    private static readonly long[] Lengths =
        [.. Enumerable.Range(1, 3000).Select(t => (long)t), .. Enumerable.Range(0, 600).Select(n => 3001L + n * 97), 19999, 20000, 20001, 60000];

    private static readonly double[] Alphas = [0, 1e-9, 0.001, 0.05, 0.1, 0.2, 0.25, 0.3, 1.0 / 3, 0.4, 0.5, 0.6, 2.0 / 3, 0.7, 0.75, 0.8, 0.9, 0.95, 0.999, 1];

    [TestCase(64L, 0.0)]
    [TestCase(65L, 1.0 / 19936)]
    [TestCase(10032L, 0.5)]
    [TestCase(20000L, 1.0)]
    [TestCase(50000L, 1.0)]
    public void AlphaRampsFromSeqLowToSwitchContext(long seqLen, double expected)
    {
        Assert.That(ScheduleOracle.Alpha(seqLen, ScheduleOracle.DefaultSeqLow(64), 20000), Is.EqualTo(expected));
        Assert.That(ScheduleOracle.DefaultSeqLow(128), Is.EqualTo(128));
        Assert.That(() => ScheduleOracle.Alpha(100, 20000, 20000), Throws.ArgumentException);
    }

    [TestCase(512L, 16)]
    [TestCase(1024L, 7)]
    [TestCase(2048L, 4)]
    [TestCase(4096L, 2)]
    public void HeadsPerTokenFollowSpecExample(long seqLen, int expected)
    {
        Assert.That(ScheduleOracle.DenseHeads(new HeadsConfig(), seqLen), Is.EqualTo(expected));
        Assert.That(ScheduleOracle.HeadsPerToken(new HeadsConfig(), seqLen, 0), Is.EqualTo(expected));
    }

    [Test]
    public void HeadsPerTokenBlendTowardHeadKHalfToEven()
    {
        Assert.That(ScheduleOracle.HeadsPerToken(new HeadsConfig(), 1024, 0.5), Is.EqualTo(4), "0.5·7 + 0.5·2 = 4.5 → 4");
        Assert.That(ScheduleOracle.HeadsPerToken(new HeadsConfig(), 2048, 0.25), Is.EqualTo(4), "0.75·4 + 0.25·2 = 3.5 → 4");
        Assert.That(ScheduleOracle.HeadsPerToken(new HeadsConfig(), 2048, 0.75), Is.EqualTo(2), "2.5 → 2");
        double[] mean = [0.05, 0.5, 0.15, 0.3];
        Assert.That(ScheduleOracle.HeadsPerToken(new HeadsConfig { NucleusTopP = 0.75 }, 512, 0, mean), Is.EqualTo(2), "0.5 + 0.3 reaches 0.75");
    }

    [Test]
    public void ContinuousBudgetsOfSpecAndTheProjectNotes()
    {
        Assert.That(ScheduleOracle.Budget(new BudgetConfig(), 20000, 1), Is.EqualTo(new OracleBudget(512, 512, 342, 170, 0)));
        Assert.That(ScheduleOracle.Budget(BudgetConfig.WithDna, 20000, 1), Is.EqualTo(new OracleBudget(512, 512, 308, 153, 51)));
        Assert.That(ScheduleOracle.Budget(new BudgetConfig(), 100, 1), Is.EqualTo(new OracleBudget(512, 100, 67, 33, 0)));
        Assert.That(ScheduleOracle.Budget(new BudgetConfig(), 4096, 0), Is.EqualTo(new OracleBudget(512, 4096, 4096, 0, 0)), "α = 0 is dense");
        // Sqrt 512·sqrt(5000/20000) = 256; Budget 2^24/(256·8·64) = 128.
        Assert.That(ScheduleOracle.Budget(new BudgetConfig { Target = TargetSchedule.Sqrt }, 5000, 1), Is.EqualTo(new OracleBudget(256, 256, 171, 85, 0)));
        Assert.That(ScheduleOracle.Budget(new BudgetConfig { Target = TargetSchedule.Budget, CostBudget = 1 << 24 }, 256, 1, heads: 8, headDim: 64),
            Is.EqualTo(new OracleBudget(128, 128, 86, 42, 0)));
    }

    [Test]
    public void KeepRatioCurves()
    {
        var keep = new KeepConfig();
        Assert.That(ScheduleOracle.KeepCurveAt(keep, 8192), Is.EqualTo(0.5));
        Assert.That(ScheduleOracle.KeepCurveAt(keep, 1024), Is.EqualTo(1), "clamped to base");
        Assert.That(ScheduleOracle.KeepCurveAt(keep, 1 << 20), Is.EqualTo(0.2), "clamped to min_ratio");
        Assert.That(ScheduleOracle.KeepCurveAt(keep with { Base = 0.1 }, 1 << 20), Is.EqualTo(0.1), "floor min(min_ratio, base)");
        Assert.That(ScheduleOracle.KeepCurveAt(keep with { Curve = KeepCurve.Log }, 4095), Is.EqualTo(Math.Log2(2049) / 12).Within(1e-15));
        Assert.That(ScheduleOracle.KeepRatio(keep, 8192, 0.5), Is.EqualTo(0.75));
    }

    [Test]
    public void LibraryAlphaRampMatchesTheOracle()
    {
        Assert.Multiple(() =>
        {
            foreach (long headDim in new long[] { 16, 64, 128, 256 })
            {
                foreach (long switchContext in new long[] { 300, 4096, 20000 })
                {
                    AlphaRamp ramp = AlphaRamp.ForHeadDim(headDim, switchContext);
                    var schedule = new AlphaSchedule(new AlphaScheduleOptions { SwitchContext = switchContext });
                    foreach (long t in Lengths)
                    {
                        double expected = ScheduleOracle.Alpha(t, ScheduleOracle.DefaultSeqLow((int)headDim), switchContext);
                        Assert.That(ramp.Evaluate(t), Is.EqualTo(expected), $"D {headDim}, switch_ctx {switchContext}, T {t}");
                        Assert.That(schedule.Evaluate(t, headDim).Alpha, Is.EqualTo(expected), $"schedule, D {headDim}, switch_ctx {switchContext}, T {t}");
                    }
                }
            }
        });
    }

    private static IEnumerable<TestCaseData> BudgetConfigurations()
    {
        FluxBudgetOptions dnaOptions = new() { Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna };
        foreach (TargetSchedule target in Enum.GetValues<TargetSchedule>())
        {
            ShortlistTarget libraryTarget = target switch
            {
                TargetSchedule.Fixed => ShortlistTarget.Fixed,
                TargetSchedule.Sqrt => ShortlistTarget.Sqrt,
                TargetSchedule.Log => ShortlistTarget.Log,
                _ => ShortlistTarget.Budget,
            };
            double? cost = target == TargetSchedule.Budget ? 1 << 26 : null;
            var off = new BudgetConfig { Target = target, CostBudget = cost ?? 0 };
            yield return new TestCaseData(off, new FluxBudgetOptions { Target = libraryTarget, CostBudget = cost }).SetArgDisplayNames($"{target}, DNA off");
            yield return new TestCaseData(BudgetConfig.WithDna with { Target = target, CostBudget = cost ?? 0 }, dnaOptions with { Target = libraryTarget, CostBudget = cost })
                .SetArgDisplayNames($"{target}, DNA on");
            yield return new TestCaseData(off with { Anchors = false }, new FluxBudgetOptions { Target = libraryTarget, CostBudget = cost, Pieces = ShortlistPieces.Local })
                .SetArgDisplayNames($"{target}, local only");
        }
        yield return new TestCaseData(new BudgetConfig { BaseLength = 2048, MaxLength = 2048, MinLength = 64, Target = TargetSchedule.Sqrt, SwitchContext = 8192 },
            new FluxBudgetOptions { BaseLength = 2048, Target = ShortlistTarget.Sqrt, SwitchContext = 8192 }).SetArgDisplayNames("Sqrt, L_base 2048, switch_ctx 8192");
    }

    // SPEC's round and floors are ill-conditioned where their argument is, in exact arithmetic, a half or an
    // integer: floating point puts it a rounding error to either side, depending on evaluation order. The
    // library's L = round(T + α·(L_t − T)) and SPEC's literal (1 − α)·T + α·L_t round apart at T 577, α 0.1,
    // L_t 512 (570.5 or 570.5000000000001); its A = floor(L·α·f_anc) with f_anc = 0.3/0.9 = 0.33333333333333337
    // is 1 at L 5, α 0.6 where the literal 1/3 gives 0.9999999999999999. Within 1e-9 of such a boundary
    // either side is accepted; everywhere else the library must equal the oracle exactly.
    [TestCaseSource(nameof(BudgetConfigurations))]
    public void LibraryContinuousBudgetsMatchTheOracle(BudgetConfig config, FluxBudgetOptions options)
    {
        var library = new FluxBudget(options);
        var shape = new AttentionShape(2, 8, 1, 64);
        int mismatches = 0, boundaries = 0, cases = 0;
        var first = new List<string>();
        foreach (long t in Lengths)
        {
            double ramp = ScheduleOracle.Alpha(t, 64, 20000);
            foreach (double alpha in Alphas.Append(ramp))
            {
                cases++;
                OracleBudget expected = ScheduleOracle.Budget(config, t, alpha, heads: 8, headDim: 64);
                ShortlistBudget actual = library.Compute(shape with { SeqLen = t }, alpha);
                var got = new OracleBudget(actual.TargetLength, actual.Length, actual.Window, actual.AnchorCount, actual.DnaCount);
                if (got == expected)
                {
                    continue;
                }
                if (AcrossABoundary(config, t, alpha, expected, got))
                {
                    boundaries++;
                    continue;
                }
                mismatches++;
                if (first.Count < 10)
                {
                    first.Add($"T {t}, α {alpha:R}: library {got}, oracle {expected}");
                }
            }
        }
        Assert.That(mismatches, Is.Zero, string.Join("\n", first));
        TestContext.Out.WriteLine($"{boundaries} of {cases} cases differ only across a rounding boundary");
    }

    // Whether the library's budget is the oracle's up to rounding boundaries: L may round the other way where
    // the unrounded length is within 1e-9 of a half, and A, K the other way where L·mix is within 1e-9 of an integer.
    private static bool AcrossABoundary(BudgetConfig config, long t, double alpha, OracleBudget expected, OracleBudget got)
    {
        static bool Near(double x, double boundary) => Math.Abs(x - boundary) < 1e-9;
        double unrounded = ScheduleOracle.UnroundedLength(t, alpha, expected.Target);
        if (got.Target != expected.Target || (got.Length != expected.Length && !Near(unrounded - Math.Floor(unrounded), 0.5)))
        {
            return false;
        }
        OracleBudget split = ScheduleOracle.Split(config, expected.Target, got.Length, alpha);
        double fSum = config.Fractions.Local + (config.Anchors ? config.Fractions.Anchors : 0) + (config.Dna ? config.Fractions.Dna : 0);
        double anchors = got.Length * alpha * (config.Anchors ? config.Fractions.Anchors : 0) / fSum;
        double dna = got.Length * alpha * (config.Dna ? config.Fractions.Dna : 0) / fSum;
        bool anchorsOk = got.Anchors == split.Anchors || (Near(anchors, Math.Round(anchors)) && Math.Abs(got.Anchors - anchors) < 1 + 1e-9);
        bool dnaOk = got.Dna == split.Dna || (Near(dna, Math.Round(dna)) && Math.Abs(got.Dna - dna) < 1 + 1e-9);
        return anchorsOk && dnaOk && got.Window == Math.Max(1, got.Length - got.Anchors - got.Dna);
    }

    private static IEnumerable<TestCaseData> KeepConfigurations()
    {
        foreach (KeepRatioCurve curve in Enum.GetValues<KeepRatioCurve>())
        {
            KeepCurve oracleCurve = curve switch { KeepRatioCurve.Sqrt => KeepCurve.Sqrt, KeepRatioCurve.Log => KeepCurve.Log, _ => KeepCurve.Fixed };
            foreach (double keepBase in new[] { 1, 0.8, 0.15 })
            {
                yield return new TestCaseData(new KeepConfig { Curve = oracleCurve, Base = keepBase, Guard = 3 }, new TokenKeepOptions { Curve = curve, Base = keepBase, Guard = 3 })
                    .SetArgDisplayNames($"{curve}, base {keepBase}");
            }
        }
    }

    [TestCaseSource(nameof(KeepConfigurations))]
    public void LibraryKeepRatioMatchesTheOracle(KeepConfig config, TokenKeepOptions options)
    {
        var library = new TokenSparsity(options);
        Assert.Multiple(() =>
        {
            foreach (long t in Lengths)
            {
                foreach (double alpha in Alphas)
                {
                    Assert.That(library.KeepRatio(t, alpha), Is.EqualTo(ScheduleOracle.KeepRatio(config, t, alpha)), $"T {t}, α {alpha:R}");
                }
            }
        });
    }

    // Below ratio 0.999; from 0.999 on see LibraryKeepsEveryTokenFromRatio0999.
    [TestCaseSource(nameof(KeepConfigurations))]
    public void LibraryKeptTokensMatchTheOracle(KeepConfig config, TokenKeepOptions options)
    {
        var library = new TokenSparsity(options);
        Assert.Multiple(() =>
        {
            foreach (long t in Lengths)
            {
                foreach (double alpha in Alphas)
                {
                    double ratio = ScheduleOracle.KeepRatio(config, t, alpha);
                    if (ratio < 0.999)
                    {
                        Assert.That(library.KeptTokens((int)t, alpha), Is.EqualTo(ScheduleOracle.KeptTokens(ratio, (int)t, config.Guard)), $"T {t}, α {alpha:R}, ratio {ratio:R}");
                    }
                }
            }
        });
    }

    // SPEC §4: "with ratio ≥ 0.999 every token is kept". TokenSparsity.KeptTokens keeps round(ratio·T), one
    // token short from T ≥ 2000 (T 2049, α 1, Sqrt: ratio 0.99976, 2048 kept); at base 1 it drops tokens
    // the SPEC keeps for every T just past ref = 2048.
    [Test]
    public void LibraryKeepsEveryTokenFromRatio0999()
    {
        var library = new TokenSparsity();
        Assert.Multiple(() =>
        {
            foreach (long t in Lengths)
            {
                foreach (double alpha in Alphas)
                {
                    if (ScheduleOracle.KeepRatio(new KeepConfig(), t, alpha) >= 0.999)
                    {
                        Assert.That(library.KeptTokens((int)t, alpha), Is.EqualTo((int)t), $"T {t}, α {alpha:R}");
                    }
                }
            }
        });
    }

    // SPEC §5: "At α = 0 every head of every kept token is active". TokenSparsity.Select applies k_dense(T)
    // at α = 0 too (T 1024: 7 of 16 heads).
    [Test]
    public void LibraryActivatesEveryHeadAtAlphaZero()
    {
        const int T = 1024, H = 16;
        var random = new Random(5);
        float[] importance = Enumerable.Range(0, T).Select(_ => (float)random.NextDouble()).ToArray();
        float[] heads = Enumerable.Range(0, T * H).Select(_ => (float)random.NextDouble()).ToArray();
        Assert.That(ScheduleOracle.ActiveHeadsPerToken(new HeadsConfig(), T, 0, H), Is.EqualTo(H));
        Assert.That(new TokenSparsity().Select(importance, heads, 1, T, H, alpha: 0).Mask.Count(v => v == 1), Is.EqualTo(T * H), "active rows");
    }

    private static IEnumerable<TestCaseData> HeadsConfigurations()
    {
        yield return new TestCaseData(new HeadsConfig(), new HeadsPerTokenOptions()).SetArgDisplayNames("defaults");
        yield return new TestCaseData(new HeadsConfig { SeqLow = 64, SeqHigh = 20000, MinHeads = 1, MaxHeads = 12, Curve = 1, HeadK = 3 },
            new HeadsPerTokenOptions { SeqLow = 64, SeqHigh = 20000, MinHeads = 1, MaxHeads = 12, Curve = 1, HeadK = 3 }).SetArgDisplayNames("linear, 1 to 12");
        yield return new TestCaseData(new HeadsConfig { Curve = 2.5, NucleusTopP = 0.7 }, new HeadsPerTokenOptions { Curve = 2.5, NucleusTopP = 0.7 })
            .SetArgDisplayNames("curve 2.5, nucleus 0.7");
    }

    [TestCaseSource(nameof(HeadsConfigurations))]
    public void LibraryHeadsPerTokenMatchTheOracle(HeadsConfig config, HeadsPerTokenOptions options)
    {
        var library = new TokenSparsity(heads: options);
        var random = new Random(3);
        Assert.Multiple(() =>
        {
            foreach (long t in Lengths)
            {
                double[] mean = Enumerable.Range(0, 16).Select(_ => random.NextDouble()).ToArray();
                double sum = mean.Sum();
                mean = mean.Select(m => m / sum).ToArray();
                Assert.That(library.DenseHeadsPerToken(t), Is.EqualTo(ScheduleOracle.DenseHeads(config, t)), $"k_dense, T {t}");
                foreach (double alpha in Alphas)
                {
                    Assert.That(library.HeadsPerToken(t, alpha, mean), Is.EqualTo(ScheduleOracle.HeadsPerToken(config, t, alpha, mean)), $"T {t}, α {alpha:R}");
                }
            }
        });
    }

    [Test]
    public void LibraryActiveMaskMatchesTheOracle()
    {
        var random = new Random(4);
        const int B = 3, T = 40, H = 6;
        Assert.Multiple(() =>
        {
            for (int trial = 0; trial < 40; trial++)
            {
                // Importance and head probabilities on a coarse grid, so that ties are common.
                float[] importance = Enumerable.Range(0, B * T).Select(_ => random.Next(8) / 8f).ToArray();
                float[] heads = Enumerable.Range(0, B * T * H).Select(_ => random.Next(4) / 4f).ToArray();
                int guard = 1 + random.Next(5);
                int keep = guard + random.Next(T - guard + 1);
                int k = 1 + random.Next(H + 1);
                byte[] library = TokenSparsity.BuildActiveMask(importance, heads, B, T, H, keep, k, guard);
                bool[] oracle = RouterOracle.Active(Array.ConvertAll(importance, v => (double)v), Array.ConvertAll(heads, v => (double)v), B, T, H, keep, guard, k);
                Assert.That(library.Select(v => v == 1), Is.EqualTo(oracle), $"trial {trial}: keep {keep}, guard {guard}, k {k}");
            }
        });
    }
}
