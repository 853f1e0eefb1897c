using Proteus.Tests.Support;

namespace Proteus.Tests.Oracle;

/// <summary>The oracle's elementwise and row operations on hand-checkable cases.</summary>
[TestFixture]
public sealed class PrimitiveOracleTests
{
    // Python's math.erf (the C library's), printed with repr.
    [TestCase(0.0, 0.0)]
    [TestCase(0.001, 0.0011283787909692365)]
    [TestCase(0.1, 0.1124629160182849)]
    [TestCase(0.5, 0.5204998778130465)]
    [TestCase(1.0, 0.8427007929497149)]
    [TestCase(1.5, 0.9661051464753108)]
    [TestCase(2.0, 0.9953222650189527)]
    [TestCase(2.5, 0.999593047982555)]
    [TestCase(2.999, 0.9999777698314002)]   // the series' side of the switch at 3
    [TestCase(3.0, 0.9999779095030014)]
    [TestCase(3.001, 0.9999780483390822)]   // the continued fraction's side
    [TestCase(3.5, 0.9999992569016276)]
    [TestCase(4.0, 0.9999999845827421)]
    [TestCase(5.0, 0.9999999999984626)]
    [TestCase(6.0, 1.0)]
    public void ErfMatchesKnownValues(double x, double expected)
    {
        Assert.That(LayerOracle.Erf(x), Is.EqualTo(expected).Within(2e-16 + 2e-15 * Math.Abs(expected)));
        Assert.That(LayerOracle.Erf(-x), Is.EqualTo(-LayerOracle.Erf(x)), "erf is odd");
    }

    [TestCase(0.0, 0.0)]
    [TestCase(0.5, 0.34573123063700656)]
    [TestCase(1.0, 0.8413447460685429)]
    [TestCase(-1.0, -0.15865525393145707)]
    [TestCase(2.0, 1.9544997361036416)]
    [TestCase(-3.0, -0.00404969409489031)]
    public void GeluIsTheErfForm(double x, double expected)
    {
        Assert.That(LayerOracle.Gelu(x), Is.EqualTo(expected).Within(1e-15));
    }

    [Test]
    public void SoftmaxSumsToOneAndIgnoresShifts()
    {
        double[] p = LayerOracle.Softmax([1.0, 2.0, 3.0, -4.0]);
        Assert.That(p.Sum(), Is.EqualTo(1).Within(1e-15));
        Assert.That(p[1] / p[0], Is.EqualTo(Math.E).Within(1e-14));
        double[] shifted = LayerOracle.Softmax([1001.0, 1002.0, 1003.0, 996.0]);
        Assert.That(shifted, Is.EqualTo(p).Within(1e-15), "max-shifted: no overflow, same result");
    }

    [Test]
    public void LinearIsXTimesWTransposedPlusBias()
    {
        double[] x = [1, 2, 3, 4, 5, 6];          // [2, 3]
        double[] w = [1, 0, -1, 2, 1, 0];         // [2, 3]
        double[] y = LayerOracle.Linear(x, w, [10, 20], rows: 2, inputs: 3, outputs: 2);
        Assert.That(y, Is.EqualTo(new double[] { 1 - 3 + 10, 2 + 2 + 20, 4 - 6 + 10, 8 + 5 + 20 }));
    }

    [Test]
    public void LayerNormGivesMeanZeroVarianceOne()
    {
        var random = new Random(1);
        double[] x = Enumerable.Range(0, 3 * 16).Select(_ => random.NextDouble() * 10 - 3).ToArray();
        double[] y = LayerOracle.LayerNorm(x, rows: 3, width: 16, weight: null, bias: null, eps: 0);
        for (int row = 0; row < 3; row++)
        {
            double[] r = y.Skip(row * 16).Take(16).ToArray();
            Assert.That(r.Average(), Is.EqualTo(0).Within(1e-14));
            Assert.That(r.Select(v => v * v).Average(), Is.EqualTo(1).Within(1e-13), "biased variance");
        }

        double[] weight = Enumerable.Range(0, 16).Select(c => 0.5 + c).ToArray();
        double[] bias = Enumerable.Range(0, 16).Select(c => -1.0 * c).ToArray();
        double[] affine = LayerOracle.LayerNorm(x, 3, 16, weight, bias, eps: 0);
        Assert.That(affine, Is.EqualTo(y.Select((v, n) => v * weight[n % 16] + bias[n % 16])).Within(1e-13));

        double[] withEps = LayerOracle.LayerNorm([1, -1], 1, 2, null, null, eps: 1e-5);
        Assert.That(withEps, Is.EqualTo(new[] { 1 / Math.Sqrt(1 + 1e-5), -1 / Math.Sqrt(1 + 1e-5) }).Within(1e-15));
    }

    [Test]
    public void RmsNormGivesMeanSquareOne()
    {
        double[] y = LayerOracle.RmsNorm([3, 4, 0, 0], rows: 1, width: 4, weight: [1, 2, 1, 1], eps: 0);
        Assert.That(y, Is.EqualTo(new[] { 3 / 2.5, 2 * 4 / 2.5, 0, 0 }).Within(1e-15));   // sqrt(25/4) = 2.5
    }

    [Test]
    public void RopeAtPositionOneRotatesEachPairByItsFrequency()
    {
        double[] interleaved = [1, 0, 0, 1];
        LayerOracle.Rope(interleaved, 1, 1, 1, 4, RopeConvention.Interleaved, offset: 1);
        // pair (0, 1): angle 1; pair (2, 3): angle 10000^(−2/4) = 0.01.
        Assert.That(interleaved, Is.EqualTo(new[] { Math.Cos(1), Math.Sin(1), -Math.Sin(0.01), Math.Cos(0.01) }).Within(1e-15));

        double[] halfSplit = [1, 0, 0, 1];
        LayerOracle.Rope(halfSplit, 1, 1, 1, 4, RopeConvention.HalfSplit, offset: 1);
        // pair (0, 2): angle 1 on (1, 0); pair (1, 3): angle 0.01 on (0, 1).
        Assert.That(halfSplit, Is.EqualTo(new[] { Math.Cos(1), -Math.Sin(0.01), Math.Sin(1), Math.Cos(0.01) }).Within(1e-15));
    }

    [TestCase(RopeConvention.Interleaved)]
    [TestCase(RopeConvention.HalfSplit)]
    public void RopeIsIdentityAtZeroPreservesNormsAndSeesOnlyRelativePositions(RopeConvention convention)
    {
        const int T = 8, D = 16;
        var random = new Random(2);
        double[] q = Enumerable.Range(0, T * D).Select(_ => random.NextDouble() - 0.5).ToArray();
        double[] k = Enumerable.Range(0, T * D).Select(_ => random.NextDouble() - 0.5).ToArray();

        double[] rq = (double[])q.Clone(), rk = (double[])k.Clone();
        LayerOracle.Rope(rq, 1, 1, T, D, convention);
        LayerOracle.Rope(rk, 1, 1, T, D, convention);
        Assert.That(rq.Take(D), Is.EqualTo(q.Take(D)), "position 0 is the identity");
        for (int t = 0; t < T; t++)
        {
            Assert.That(Dot(rq, t, rq, t), Is.EqualTo(Dot(q, t, q, t)).Within(1e-14), "a rotation keeps the norm");
        }

        // Shifting every position by 5 leaves every <q_i, k_j> unchanged: only i − j matters.
        double[] sq = (double[])q.Clone(), sk = (double[])k.Clone();
        LayerOracle.Rope(sq, 1, 1, T, D, convention, offset: 5);
        LayerOracle.Rope(sk, 1, 1, T, D, convention, offset: 5);
        for (int i = 0; i < T; i++)
        {
            for (int j = 0; j < T; j++)
            {
                Assert.That(Dot(sq, i, sk, j), Is.EqualTo(Dot(rq, i, rk, j)).Within(1e-13));
            }
        }

        // An offset of 3 at t is position t + 3.
        double[] same = Enumerable.Range(0, T * D).Select(n => q[n % D]).ToArray();
        double[] fromZero = (double[])same.Clone(), fromThree = same.Take((T - 3) * D).ToArray();
        LayerOracle.Rope(fromZero, 1, 1, T, D, convention);
        LayerOracle.Rope(fromThree, 1, 1, T - 3, D, convention, offset: 3);
        Assert.That(fromThree, Is.EqualTo(fromZero.Skip(3 * D)).Within(1e-15));
    }

    private static double Dot(double[] a, int i, double[] b, int j)
    {
        const int D = 16;
        double sum = 0;
        for (int d = 0; d < D; d++)
        {
            sum += a[i * D + d] * b[j * D + d];
        }
        return sum;
    }
}
