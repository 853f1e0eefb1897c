using Proteus.Tests.Support;

namespace Proteus.Tests.Oracle;

/// <summary>The oracle's router, DNA blend and update, and token and head selection on hand-checkable cases.</summary>
[TestFixture]
public sealed class RouterOracleTests
{
    [Test]
    public void GatesMapToHeadsInContiguousBlocks()
    {
        Assert.That(Enumerable.Range(0, 8).Select(g => RouterOracle.HeadOfGate(g, 8, 4)), Is.EqualTo(new[] { 0, 0, 1, 1, 2, 2, 3, 3 }));
        Assert.That(Enumerable.Range(0, 6).Select(g => RouterOracle.HeadOfGate(g, 6, 4)), Is.EqualTo(new[] { 0, 0, 1, 2, 2, 3 }));
    }

    [Test]
    public void WithoutDnaTheRouterIsASoftmaxOverGates()
    {
        // x = (1, 2), W_r = rows (1, 0), (0, 1), (1, 1), (0, 0): logits 1, 2, 3, 0; G 4 → H 2.
        RouterResult r = RouterOracle.Route([1, 2], tokens: 1, width: 2, router: [1, 0, 0, 1, 1, 1, 0, 0], gates: 4, heads: 2);
        double[] expected = LayerOracle.Softmax([1.0, 2.0, 3.0, 0.0]);
        Assert.That(r.GateProbabilities, Is.EqualTo(expected).Within(1e-15));
        Assert.That(r.HeadProbabilities, Is.EqualTo(new[] { expected[0] + expected[1], expected[2] + expected[3] }).Within(1e-15));
        Assert.That(r.HeadProbabilities.Sum(), Is.EqualTo(1).Within(1e-15));
        Assert.That(r.Importance[0], Is.EqualTo(expected[2]));
        Assert.That(r.Salience, Is.Null);
    }

    [Test]
    public void BelowTheThresholdDnaLeavesTheRouterAlone()
    {
        // x ⟂ every prototype: σ = 0 ≤ θ, so β = 0, w = 0 and p = p_router.
        var dna = new DnaState([0, 1, 0, 2], [0, 0], [1, 1]);
        double[] pRouter = [0.3, 0.7];
        (double[] p, double salience, double beta) = RouterOracle.Blend([5, 0], pRouter, dna, new DnaConfig());
        Assert.That((salience, beta), Is.EqualTo((0.0, 0.0)));
        Assert.That(p, Is.EqualTo(pRouter).Within(1e-15));
    }

    [Test]
    public void AboveTheThresholdDnaBlendsTowardThePrototypes()
    {
        // P_0 ∥ x, P_1 ⟂ x: σ = (1, 0), salience 1, β = 1, w = 0.6.
        var dna = new DnaState([3, 0, 0, 0.5], [0, 0], [0, 0]);
        double[] pRouter = [0.3, 0.7];
        (double[] p, double salience, double beta) = RouterOracle.Blend([2, 0], pRouter, dna, new DnaConfig());
        Assert.That((salience, beta), Is.EqualTo((1.0, 1.0)));
        // confidence 0: pd = softmax(σ/τ)·1e-6, renormalised, is softmax(σ/τ) = softmax(5, 0).
        double[] pd = LayerOracle.Softmax([5.0, 0.0]);
        Assert.That(p, Is.EqualTo(new[] { 0.4 * 0.3 + 0.6 * pd[0], 0.4 * 0.7 + 0.6 * pd[1] }).Within(1e-15));

        // confidence (1, 0) weights pd by (1 + 1e-6, 1e-6) before renormalising.
        var confident = new DnaState([3, 0, 0, 0.5], [0, 0], [1, 0]);
        double[] weighted = [pd[0] * (1 + 1e-6), pd[1] * 1e-6];
        double sum = weighted.Sum();
        (double[] q, _, _) = RouterOracle.Blend([2, 0], pRouter, confident, new DnaConfig());
        Assert.That(q, Is.EqualTo(new[] { 0.4 * 0.3 + 0.6 * weighted[0] / sum, 0.4 * 0.7 + 0.6 * weighted[1] / sum }).Within(1e-15));

        // Half-way: σ_0 = cos 60° = 0.5, β = (0.5 − 0.25)/0.75 = 1/3, w = 0.2.
        (double[] half, double s, double b) = RouterOracle.Blend([1, Math.Sqrt(3)], pRouter, dna, new DnaConfig());
        Assert.That(s, Is.EqualTo(Math.Sqrt(3) / 2).Within(1e-15), "σ_1 = sin 60° is the larger");
        Assert.That(b, Is.EqualTo((Math.Sqrt(3) / 2 - 0.25) / 0.75).Within(1e-15));
        double[] pdHalf = LayerOracle.Softmax([0.5 / 0.2, Math.Sqrt(3) / 2 / 0.2]);
        double w = 0.6 * b;
        Assert.That(half, Is.EqualTo(new[] { (1 - w) * 0.3 + w * pdHalf[0], (1 - w) * 0.7 + w * pdHalf[1] }).Within(1e-15));
    }

    [Test]
    public void UsageBoostAddsTheLeastUsedGatesAndRenormalises()
    {
        var dna = new DnaState([0, 1, 0, 1], [0, 10], [0, 0]);
        (double[] p, _, double beta) = RouterOracle.Blend([1, 0], [0.3, 0.7], dna, new DnaConfig { UsageBoost = 0.5 });
        Assert.That(beta, Is.EqualTo(0));
        double[] boost = LayerOracle.Softmax([-(0 + 1e-6), -(10 + 1e-6)]);
        Assert.That(p, Is.EqualTo(new[] { (0.3 + 0.5 * boost[0]) / 1.5, (0.7 + 0.5 * boost[1]) / 1.5 }).Within(1e-15));
    }

    [Test]
    public void ImportanceWithDnaMixesTheLargestGateAndTheSalience()
    {
        var dna = new DnaState([1, 0, 0, 1, 1, 1, -1, 0], [0, 0, 0, 0], [0.5, 0.2, 0.1, 0]);
        double[] x = [0.9, 0.3, -0.2, 1.1];   // two tokens of C 2
        double[] router = [0.5, -1, 2, 0.25, 0, 0, -1, 1];
        RouterResult r = RouterOracle.Route(x, tokens: 2, width: 2, router, gates: 4, heads: 2, dna, new DnaConfig());
        for (int t = 0; t < 2; t++)
        {
            double[] p = r.GateProbabilities.Skip(4 * t).Take(4).ToArray();
            Assert.That(p.Sum(), Is.EqualTo(1).Within(1e-15));
            Assert.That(r.Importance[t], Is.EqualTo(p.Max() * (1 - r.Beta![t]) + r.Salience![t] * r.Beta[t]));
            Assert.That(r.HeadProbabilities[2 * t], Is.EqualTo(p[0] + p[1]));
        }
        Assert.That(r.Beta, Has.Some.GreaterThan(0), "the case exercises the blend");
    }

    [Test]
    public void UpdateMovesOnlyTheGatesWithMassAboveTheThreshold()
    {
        var dna = new DnaState([1, 1, 2, 2, 3, 3], [1, 1, 1], [0.5, 0.5, 0.5]);
        double[] x = [1, 0, 0, 1];   // rows X_0 = (1, 0), X_1 = (0, 1)
        // n = (0.8, 1.2 − 1e-7, 1e-7): gate 2 is at or below 1e-6, so not updated.
        double[] q = [0.6, 0.4 - 5e-8, 5e-8, 0.2, 0.8 - 5e-8, 5e-8];
        RouterOracle.Update(dna, x, q, rows: 2, width: 2, decay: 0.97);

        double n0 = 0.8, n1 = 1.2 - 1e-7;
        Assert.That(dna.Prototypes.Take(2), Is.EqualTo(new[] { 0.97 + 0.03 * 0.6 / n0, 0.97 + 0.03 * 0.2 / n0 }).Within(1e-15));
        Assert.That(dna.Prototypes.Skip(2).Take(2), Is.EqualTo(new[] { 0.97 * 2 + 0.03 * (0.4 - 5e-8) / n1, 0.97 * 2 + 0.03 * (0.8 - 5e-8) / n1 }).Within(1e-15));
        Assert.That(dna.Prototypes.Skip(4), Is.EqualTo(new[] { 3.0, 3.0 }), "P unchanged");
        Assert.That(dna.Usage, Is.EqualTo(new[] { 0.97 + 0.03 * n0, 0.97 + 0.03 * n1, 0.97 }).Within(1e-15));
        Assert.That(dna.Confidence, Is.EqualTo(new[] { 0.97 * 0.5 + 0.03, 0.97 * 0.5 + 0.03, 0.97 * 0.5 }).Within(1e-15));
    }

    [TestCase(0.9995, 10000, 1, 10000)]   // ratio ≥ 0.999 keeps every token
    [TestCase(0.998, 10000, 1, 9980)]
    [TestCase(0.5, 7, 1, 4)]              // 3.5 → 4 (half to even)
    [TestCase(0.3, 5, 1, 2)]              // 1.5 → 2
    [TestCase(0.5, 5, 1, 2)]              // 2.5 → 2
    [TestCase(0.1, 5, 2, 2)]              // round(0.5) = 0, at least guard
    [TestCase(0.1, 5, 10, 5)]             // guard > T: at most T
    public void KeptTokenCount(double ratio, int seqLen, int guard, int expected)
    {
        Assert.That(ScheduleOracle.KeptTokens(ratio, seqLen, guard), Is.EqualTo(expected));
    }

    [Test]
    public void KeptTokensAreTheGuardThenTheMostImportantTiesToTheSmallerT()
    {
        double[] importance = [0.5, 0.9, 0.9, 0.1, 0.9];
        Assert.That(RouterOracle.KeptTokens(importance, keep: 3, guard: 1), Is.EqualTo(new[] { true, true, true, false, false }));
        Assert.That(RouterOracle.KeptTokens(importance, keep: 3, guard: 2), Is.EqualTo(new[] { true, true, true, false, false }));
        Assert.That(RouterOracle.KeptTokens([0.1, 0.2, 0.9, 0.3], keep: 2, guard: 2), Is.EqualTo(new[] { true, true, false, false }), "keep = guard");
        Assert.That(RouterOracle.KeptTokens([0.1, 0.2, 0.9, 0.3], keep: 3, guard: 1), Is.EqualTo(new[] { true, false, true, true }), "t 0 is kept though least important");
    }

    [Test]
    public void TopHeadsTiesToTheSmallerHead()
    {
        Assert.That(RouterOracle.TopHeads([0.3, 0.3, 0.4, 0.0], 2), Is.EqualTo(new[] { true, false, true, false }));
        Assert.That(RouterOracle.TopHeads([0.3, 0.3, 0.4, 0.0], 9), Is.EqualTo(new[] { true, true, true, true }));
    }

    [Test]
    public void ActiveIsHeadMaskAndTokenMask()
    {
        // B 1, T 3, H 2: keep 2 of 3 (guard 1: t 0, then t 2), k 1.
        bool[] active = RouterOracle.Active([0.1, 0.2, 0.3], [0.6, 0.4, 0.9, 0.1, 0.2, 0.8], batch: 1, seqLen: 3, heads: 2, keep: 2, guard: 1, k: 1);
        Assert.That(active, Is.EqualTo(new[] { true, false, false, /* head 1 */ false, false, true }));
    }
}
