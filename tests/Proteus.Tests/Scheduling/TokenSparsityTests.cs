namespace Proteus.Tests.Scheduling;

/// <summary>The token keep ratio, the heads-per-token schedule and the active-row selection of SPEC §4.</summary>
[TestFixture]
public sealed class TokenSparsityTests
{
    // SPEC §4's example: (seq_low 512, seq_high 4096, h_min 2, h_max 16), curve 0.25 (the defaults).
    [TestCase(100L, 16)]
    [TestCase(512L, 16)]
    [TestCase(513L, 14)]   // r = 1/3584, r^0.25 = 0.1293…: floor(16 − 1.810…) = 14
    [TestCase(1024L, 7)]   // r = 1/7, r^0.25 = 0.6148…: floor(16 − 8.607…) = 7
    [TestCase(2048L, 4)]   // r = 3/7, r^0.25 = 0.8091…: floor(16 − 11.327…) = 4
    [TestCase(3000L, 3)]   // r = 2488/3584, r^0.25 = 0.9128…: floor(16 − 12.779…) = 3
    [TestCase(4096L, 2)]
    [TestCase(100000L, 2)]
    public void DenseHeadsPerTokenFollowTheCurve(long seqLen, int expected)
    {
        Assert.That(new TokenSparsity().DenseHeadsPerToken(seqLen), Is.EqualTo(expected));
    }

    [TestCase(1024L, 0.0, 7)]
    [TestCase(1024L, 0.5, 4)]   // 0.5·7 + 0.5·2 = 4.5 → 4 (half to even)
    [TestCase(1024L, 1.0, 2)]
    [TestCase(2048L, 0.25, 4)]  // 0.75·4 + 0.25·2 = 3.5 → 4 (half to even)
    [TestCase(2048L, 0.75, 2)]  // 0.25·4 + 0.75·2 = 2.5 → 2 (half to even)
    [TestCase(512L, 0.5, 9)]    // 0.5·16 + 0.5·2 = 9
    public void AlphaBlendsHeadsTowardHeadK(long seqLen, double alpha, int expected)
    {
        Assert.That(new TokenSparsity().HeadsPerToken(seqLen, alpha), Is.EqualTo(expected));
    }

    [Test]
    public void TheNucleusLowersK()
    {
        double[] mean = [0.05, 0.5, 0.15, 0.3];   // sorted: 0.5 (head 1), 0.3, 0.15, 0.05
        TokenSparsity Nucleus(double p) => new(heads: new HeadsPerTokenOptions { NucleusTopP = p });
        Assert.That(Nucleus(0.45).HeadsPerToken(512, 0, mean), Is.EqualTo(1), "0.5 reaches 0.45");
        Assert.That(Nucleus(0.75).HeadsPerToken(512, 0, mean), Is.EqualTo(2), "0.5 + 0.3 reaches 0.75");
        Assert.That(Nucleus(0.9).HeadsPerToken(512, 0, mean), Is.EqualTo(3), "0.95 reaches 0.9");
        Assert.That(Nucleus(1).HeadsPerToken(512, 0, mean), Is.EqualTo(4));
        Assert.That(Nucleus(0.9).HeadsPerToken(4096, 0, mean), Is.EqualTo(2), "the nucleus only lowers: k_dense(4096) = 2");
        Assert.That(Nucleus(0.9).HeadsPerToken(512, 0.5, mean), Is.EqualTo(2), "0.5·3 + 0.5·min(3, 2) = 2.5 → 2");
        Assert.That(Nucleus(0.9).HeadsPerToken(512, 0, [0.25, 0.25, 0.25, 0.25]), Is.EqualTo(4), "equal shares need 4 heads for 0.9");
        var exception = Assert.Throws<ArgumentException>(() => Nucleus(0.9).HeadsPerToken(512, 0));
        Assert.That(exception!.ParamName, Is.EqualTo("meanHeadDistribution"));
    }

    [Test]
    public void KeepRatioCurvesAndClamps()
    {
        var sqrt = new TokenSparsity(new TokenKeepOptions { Base = 0.8 });
        Assert.That(sqrt.KeepCurve(8192), Is.EqualTo(0.4).Within(1e-15), "0.8·sqrt(2048/8192)");
        Assert.That(sqrt.KeepCurve(512), Is.EqualTo(0.8), "0.8·2 clamped to base");
        Assert.That(sqrt.KeepCurve(2048 * 64), Is.EqualTo(0.2), "0.8/8 = 0.1 clamped up to min_ratio");
        Assert.That(sqrt.KeepRatio(8192, 0), Is.EqualTo(0.8), "α 0: base");
        Assert.That(sqrt.KeepRatio(8192, 0.5), Is.EqualTo(0.6).Within(1e-15), "0.5·0.8 + 0.5·0.4");
        Assert.That(sqrt.KeptTokens(8192, 0.5), Is.EqualTo(4915), "round(0.6·8192 = 4915.2)");

        var log = new TokenSparsity(new TokenKeepOptions { Curve = KeepRatioCurve.Log });
        Assert.That(log.KeepCurve(4095), Is.EqualTo(Math.Log2(2049) / 12).Within(1e-15), "log2(2049)/log2(4096) = 0.9167…");

        var floorAboveBase = new TokenSparsity(new TokenKeepOptions { Curve = KeepRatioCurve.Sqrt, Base = 0.1, MinRatio = 0.2 });
        Assert.That(floorAboveBase.KeepCurve(1_000_000), Is.EqualTo(0.1), "the floor is min(min_ratio, base)");

        var fixedQuarter = new TokenSparsity(new TokenKeepOptions { Curve = KeepRatioCurve.Fixed, Base = 0.25 });
        Assert.That(fixedQuarter.KeptTokens(10, 1), Is.EqualTo(2), "round(2.5) → 2, half to even");
        Assert.That(fixedQuarter.KeptTokens(14, 1), Is.EqualTo(4), "round(3.5) → 4");
        var guarded = new TokenSparsity(new TokenKeepOptions { Curve = KeepRatioCurve.Fixed, Base = 0.1, Guard = 3 });
        Assert.That(guarded.KeptTokens(10, 1), Is.EqualTo(3), "round(1) raised to the guard");
        Assert.That(guarded.KeptTokens(2, 1), Is.EqualTo(2), "never more than T");
    }

    [Test]
    public void ActiveRowsOfAHandMadeExample()
    {
        // B 2, T 5, H 3; keep 3 tokens per row with guard 1, k = 2 heads per token.
        float[] importance =
        [
            0.0f, 0.9f, 0.2f, 0.9f, 0.5f,   // row 0: position 0 (guard), then 1 and 3 tie at 0.9 → both fit
            9.0f, 0.1f, 0.7f, 0.3f, 0.7f,   // row 1: position 0 (guard), then 2 and 4 tie at 0.7 → both fit
        ];
        float[] probabilities =
        [
            // row 0: tokens 0..4, heads 0..2
            0.2f, 0.5f, 0.3f,   0.4f, 0.4f, 0.2f,   0.9f, 0.05f, 0.05f,   0.1f, 0.1f, 0.8f,   0.3f, 0.3f, 0.4f,
            // row 1
            0.6f, 0.3f, 0.1f,   0.0f, 0.0f, 1.0f,   0.1f, 0.1f, 0.1f,     0.5f, 0.2f, 0.3f,   0.2f, 0.2f, 0.6f,
        ];
        byte[] mask = TokenSparsity.BuildActiveMask(importance, probabilities, 2, 5, 3, keptTokens: 3, headsPerToken: 2, guard: 1);

        byte[] expected =
        [
            // row 0, heads 0..2 over T: token 0 → heads 1, 2; token 1 → 0, 1 (tie, lower heads); token 3 → 2, then 0 (tie 0/1 → 0)
            0, 1, 0, 1, 0,
            1, 1, 0, 0, 0,
            1, 0, 0, 1, 0,
            // row 1: token 0 → heads 0, 1; token 2 → 0, 1 (three-way tie); token 4 → 2, then 0
            1, 0, 1, 0, 1,
            1, 0, 1, 0, 0,
            0, 0, 0, 0, 1,
        ];
        Assert.That(mask, Is.EqualTo(expected));
    }

    [Test]
    public void TiesForTheLastKeptSlotGoToTheEarlierToken()
    {
        float[] importance = [0.0f, 0.9f, 0.2f, 0.9f, 0.5f];
        float[] probabilities = [.. Enumerable.Repeat(1f, 5)];
        byte[] mask = TokenSparsity.BuildActiveMask(importance, probabilities, 1, 5, 1, keptTokens: 2, headsPerToken: 1, guard: 1);
        Assert.That(mask, Is.EqualTo(new byte[] { 1, 1, 0, 0, 0 }));
        mask = TokenSparsity.BuildActiveMask(importance, probabilities, 1, 5, 1, keptTokens: 2, headsPerToken: 1, guard: 2);
        Assert.That(mask, Is.EqualTo(new byte[] { 1, 1, 0, 0, 0 }), "the guard keeps 0 and 1 even though 3 is as important as 1");
        mask = TokenSparsity.BuildActiveMask(importance, probabilities, 1, 5, 1, keptTokens: 3, headsPerToken: 1, guard: 2);
        Assert.That(mask, Is.EqualTo(new byte[] { 1, 1, 0, 1, 0 }));
    }

    [Test]
    public void SelectCombinesTheSchedulesWithTheMask()
    {
        // T 8 with keep Fixed 0.5 → 4 tokens; k_dense(8) = h_max 3 with (seq_low 16, seq_high 64, 1, 3), at α 1 → min(3, head_k 1) = 1.
        var sparsity = new TokenSparsity(
            new TokenKeepOptions { Curve = KeepRatioCurve.Fixed, Base = 0.5 },
            new HeadsPerTokenOptions { SeqLow = 16, SeqHigh = 64, MinHeads = 1, MaxHeads = 3, HeadK = 1 });
        var random = new Random(3);
        float[] importance = [.. Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble())];
        float[] probabilities = [.. Enumerable.Range(0, 48).Select(_ => (float)random.NextDouble())];

        ActiveRowSelection selection = sparsity.Select(importance, probabilities, 2, 8, 3, alpha: 1);
        Assert.That(selection.KeptTokens, Is.EqualTo(4));
        Assert.That(selection.HeadsPerToken, Is.EqualTo(1));
        Assert.That(selection.KeepRatio, Is.EqualTo(0.5));
        Assert.That(selection.Mask, Is.EqualTo(TokenSparsity.BuildActiveMask(importance, probabilities, 2, 8, 3, 4, 1, 1)));
        Assert.That(selection.Mask.Count(x => x == 1), Is.EqualTo(2 * 4 * 1), "B·kept·k rows");

        ActiveRowSelection dense = sparsity.Select(importance, probabilities, 2, 8, 3, alpha: 0);
        Assert.That(dense.HeadsPerToken, Is.EqualTo(3));
        Assert.That(dense.Mask.Count(x => x == 1), Is.EqualTo(2 * 4 * 3), "α 0 keeps every head of each kept token (base 0.5 still drops half)");
    }

    [Test]
    public void BadSelectionInputsAreRejected()
    {
        float[] ok = [1, 2, 3, 4];
        Assert.That(Assert.Throws<ArgumentException>(() => TokenSparsity.BuildActiveMask([1, 2, 3], ok, 1, 4, 1, 2, 1, 1))!.ParamName, Is.EqualTo("importance"));
        Assert.That(Assert.Throws<ArgumentException>(() => TokenSparsity.BuildActiveMask(ok, [1, 2], 1, 4, 1, 2, 1, 1))!.ParamName, Is.EqualTo("headProbabilities"));
        Assert.That(Assert.Throws<ArgumentException>(() => TokenSparsity.BuildActiveMask([1, float.NaN, 3, 4], ok, 1, 4, 1, 2, 1, 1))!.ParamName, Is.EqualTo("importance"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => TokenSparsity.BuildActiveMask(ok, ok, 1, 4, 1, 5, 1, 1))!.ParamName, Is.EqualTo("keptTokens"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => TokenSparsity.BuildActiveMask(ok, ok, 1, 4, 1, 1, 1, 2))!.ParamName, Is.EqualTo("keptTokens"), "fewer than the guard");
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => TokenSparsity.BuildActiveMask(ok, ok, 1, 4, 1, 2, 0, 1))!.ParamName, Is.EqualTo("headsPerToken"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => TokenSparsity.BuildActiveMask(ok, ok, 1, 4, 1, 2, 1, 0))!.ParamName, Is.EqualTo("guard"));
    }
}
