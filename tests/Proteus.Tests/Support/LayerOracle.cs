namespace Proteus.Tests.Support;

// RoPE's pairing is the library's RopeConvention (Interleaved: (2m, 2m+1), the original's; HalfSplit: (m, m + D/2)).

/// <summary>
/// The layer's elementwise and row operations in float64, written from SPEC §5–§7 as literally as the
/// formulas read, with no dependency on the native library: it is the reference the native layer
/// kernels are compared against. Arrays are row-major: a matrix [M, K] is element (m, k) at m·K + k.
/// </summary>
public static partial class LayerOracle
{
    /// <summary>y = x·Wᵀ (+ bias): x [M, K], W [N, K], bias [N] or null → y [M, N].</summary>
    public static double[] Linear(double[] x, double[] weight, double[]? bias, int rows, int inputs, int outputs)
    {
        CheckLength(x, (long)rows * inputs, nameof(x));
        CheckLength(weight, (long)outputs * inputs, nameof(weight));
        if (bias is not null)
        {
            CheckLength(bias, outputs, nameof(bias));
        }
        var y = new double[(long)rows * outputs];
        Parallel.For(0, rows, m =>
        {
            for (int n = 0; n < outputs; n++)
            {
                double sum = 0;
                for (int k = 0; k < inputs; k++)
                {
                    sum += x[(long)m * inputs + k] * weight[(long)n * inputs + k];
                }
                y[(long)m * outputs + n] = sum + (bias?[n] ?? 0);
            }
        });
        return y;
    }

    /// <summary>
    /// LayerNorm of each row of x [M, C]: (x − mean) / sqrt(var + eps)·weight + bias, with the biased
    /// variance (mean of squared deviations); weight and bias [C] or null (1 and 0).
    /// </summary>
    public static double[] LayerNorm(double[] x, int rows, int width, double[]? weight, double[]? bias, double eps = 1e-5)
    {
        CheckLength(x, (long)rows * width, nameof(x));
        var y = new double[x.Length];
        for (int m = 0; m < rows; m++)
        {
            long row = (long)m * width;
            double mean = 0;
            for (int c = 0; c < width; c++)
            {
                mean += x[row + c];
            }
            mean /= width;
            double variance = 0;
            for (int c = 0; c < width; c++)
            {
                variance += (x[row + c] - mean) * (x[row + c] - mean);
            }
            variance /= width;
            double inverse = 1 / Math.Sqrt(variance + eps);
            for (int c = 0; c < width; c++)
            {
                y[row + c] = (x[row + c] - mean) * inverse * (weight?[c] ?? 1) + (bias?[c] ?? 0);
            }
        }
        return y;
    }

    /// <summary>RMSNorm of each row of x [M, C]: x / sqrt(mean(x²) + eps)·weight; weight [C] or null (1).</summary>
    public static double[] RmsNorm(double[] x, int rows, int width, double[]? weight, double eps = 1e-5)
    {
        CheckLength(x, (long)rows * width, nameof(x));
        var y = new double[x.Length];
        for (int m = 0; m < rows; m++)
        {
            long row = (long)m * width;
            double meanSquare = 0;
            for (int c = 0; c < width; c++)
            {
                meanSquare += x[row + c] * x[row + c];
            }
            meanSquare /= width;
            double inverse = 1 / Math.Sqrt(meanSquare + eps);
            for (int c = 0; c < width; c++)
            {
                y[row + c] = x[row + c] * inverse * (weight?[c] ?? 1);
            }
        }
        return y;
    }

    /// <summary>GELU, exact (erf) form: x·(1 + erf(x/√2))/2.</summary>
    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    /// <summary>GELU of every element.</summary>
    public static double[] Gelu(double[] x) => Array.ConvertAll(x, Gelu);

    /// <summary>
    /// erf in double, about 1e-16 relative: for |x| ≤ 3 the series erf x = 2/√π·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1))
    /// (every term positive, so nothing cancels); beyond, 1 − erfc x with erfc from its continued fraction
    /// erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) (Abramowitz and Stegun 7.1.6 and 7.1.14).
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x))
        {
            return double.NaN;
        }
        double a = Math.Abs(x);
        double value;
        if (a <= 3)
        {
            double term = a;
            double sum = a;
            for (int n = 1; n < 200 && term > sum * 1e-18; n++)
            {
                term *= 2 * a * a / (2 * n + 1);
                sum += term;
            }
            value = 2 / Math.Sqrt(Math.PI) * Math.Exp(-a * a) * sum;
        }
        else
        {
            value = 1 - Erfc(a);
        }
        return x < 0 ? -value : value;
    }

    // erfc(a), a > 3, by the continued fraction a + (1/2)/(a + 1/(a + (3/2)/(a + …))) evaluated bottom-up.
    private static double Erfc(double a)
    {
        if (a > 27)
        {
            return 0; // e^(−a²) underflows
        }
        double tail = a;
        for (int n = 120; n >= 1; n--)
        {
            tail = a + n / 2.0 / tail;
        }
        return Math.Exp(-a * a) / Math.Sqrt(Math.PI) / tail;
    }

    /// <summary>Softmax of a vector, max-shifted.</summary>
    public static double[] Softmax(ReadOnlySpan<double> logits)
    {
        double max = double.NegativeInfinity;
        foreach (double v in logits)
        {
            max = Math.Max(max, v);
        }
        var p = new double[logits.Length];
        double sum = 0;
        for (int g = 0; g < p.Length; g++)
        {
            p[g] = Math.Exp(logits[g] - max);
            sum += p[g];
        }
        for (int g = 0; g < p.Length; g++)
        {
            p[g] /= sum;
        }
        return p;
    }

    /// <summary>
    /// RoPE in place on x [B, H, T, D] (SPEC §7): the pair m (m = 0 … D/2 − 1) of position t is rotated by
    /// the angle (offset + t)·base^(−2m/D); the pair is (2m, 2m+1) interleaved or (m, m + D/2) half-split.
    /// </summary>
    public static void Rope(double[] x, int batch, int heads, int seqLen, int headDim, RopeConvention convention, double ropeBase = 10000, long offset = 0)
    {
        CheckLength(x, (long)batch * heads * seqLen * headDim, nameof(x));
        if (headDim % 2 != 0)
        {
            throw new ArgumentException($"RoPE needs an even head dim, not {headDim}.", nameof(headDim));
        }
        int half = headDim / 2;
        for (int bh = 0; bh < batch * heads; bh++)
        {
            for (int t = 0; t < seqLen; t++)
            {
                long row = ((long)bh * seqLen + t) * headDim;
                for (int m = 0; m < half; m++)
                {
                    double angle = (offset + t) * Math.Pow(ropeBase, -2.0 * m / headDim);
                    (int first, int second) = convention == RopeConvention.Interleaved ? (2 * m, 2 * m + 1) : (m, m + half);
                    double x0 = x[row + first], x1 = x[row + second];
                    x[row + first] = x0 * Math.Cos(angle) - x1 * Math.Sin(angle);
                    x[row + second] = x0 * Math.Sin(angle) + x1 * Math.Cos(angle);
                }
            }
        }
    }

    internal static void CheckLength(double[] array, long expected, string name)
    {
        if (array.LongLength != expected)
        {
            throw new ArgumentException($"{name} has {array.LongLength} elements, not {expected}.", name);
        }
    }
}
