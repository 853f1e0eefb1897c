namespace Proteus.Tests.Reference;

/// <summary>
/// The inputs of one flux attention call as the reference reads them: values already rounded to the
/// storage dtype and widened to double, in logical [B, H, T, D] / [B, Hkv, T, D] order.
/// </summary>
public sealed record ReferenceInputs(
    int Batch, int Heads, int KvHeads, int SeqLen, int HeadDim,
    double[] Query, double[] Key, double[] Value,
    bool[]? Active,
    double Scale)
{
    /// <summary>Index of q/o element [b, h, t, 0].</summary>
    public long QueryRow(int b, int h, int t) => (((long)b * Heads + h) * SeqLen + t) * HeadDim;

    /// <summary>Index of k/v element [b, hkv, t, 0].</summary>
    public long KeyRow(int b, int hkv, int t) => (((long)b * KvHeads + hkv) * SeqLen + t) * HeadDim;

    /// <summary>Index of lse/active element [b, h, t].</summary>
    public long RowIndex(int b, int h, int t) => ((long)b * Heads + h) * SeqLen + t;
}

/// <summary>Output of the reference: o [B, H, T, D] and lse [B, H, T] in double.</summary>
public sealed record ReferenceOutputs(double[] Output, double[] Lse);

/// <summary>
/// SPEC §2 in float64, one row at a time: scores over C(i), a max-shifted softmax, the weighted sum of
/// values and the log-sum-exp. Inactive rows give o = 0 and lse = −∞.
/// </summary>
public static class ReferenceAttention
{
    /// <summary>Attention over the candidate sets <paramref name="candidates"/>(b, i), computed once per (b, i).</summary>
    public static ReferenceOutputs Compute(ReferenceInputs x, Func<int, int, IReadOnlyList<long>> candidates)
    {
        var sets = new IReadOnlyList<long>[x.Batch][];
        for (int b = 0; b < x.Batch; b++)
        {
            sets[b] = new IReadOnlyList<long>[x.SeqLen];
        }
        Parallel.For(0, x.Batch * x.SeqLen, n => sets[n / x.SeqLen][n % x.SeqLen] = candidates(n / x.SeqLen, n % x.SeqLen));

        var output = new double[(long)x.Batch * x.Heads * x.SeqLen * x.HeadDim];
        var lse = new double[(long)x.Batch * x.Heads * x.SeqLen];
        int group = x.Heads / x.KvHeads;
        Parallel.For(0, x.Batch * x.Heads * x.SeqLen, n =>
        {
            int i = n % x.SeqLen;
            int h = n / x.SeqLen % x.Heads;
            int b = n / x.SeqLen / x.Heads;
            lse[x.RowIndex(b, h, i)] = Row(x, b, h, h / group, i, sets[b][i], output);
        });
        return new ReferenceOutputs(output, lse);
    }

    /// <summary>Dense causal attention, C(i) = [0, i], with no candidate logic at all.</summary>
    public static ReferenceOutputs DenseCausal(ReferenceInputs x)
    {
        var prefixes = new long[x.SeqLen][];
        for (int i = 0; i < x.SeqLen; i++)
        {
            prefixes[i] = new long[i + 1];
            for (int j = 0; j <= i; j++)
            {
                prefixes[i][j] = j;
            }
        }
        return Compute(x, (_, i) => prefixes[i]);
    }

    /// <summary>Writes o[b, h, i] into <paramref name="output"/> and returns lse[b, h, i].</summary>
    private static double Row(ReferenceInputs x, int b, int h, int hkv, int i, IReadOnlyList<long> keys, double[] output)
    {
        long row = x.QueryRow(b, h, i);
        if (x.Active is { } active && !active[x.RowIndex(b, h, i)])
        {
            Array.Clear(output, (int)row, x.HeadDim);
            return double.NegativeInfinity;
        }

        var scores = new double[keys.Count];
        double max = double.NegativeInfinity;
        for (int n = 0; n < keys.Count; n++)
        {
            long k = x.KeyRow(b, hkv, (int)keys[n]);
            double dot = 0;
            for (int d = 0; d < x.HeadDim; d++)
            {
                dot += x.Query[row + d] * x.Key[k + d];
            }
            scores[n] = x.Scale * dot;
            max = Math.Max(max, scores[n]);
        }

        double sum = 0;
        var accumulator = new double[x.HeadDim];
        for (int n = 0; n < keys.Count; n++)
        {
            double weight = Math.Exp(scores[n] - max);
            sum += weight;
            long v = x.KeyRow(b, hkv, (int)keys[n]);
            for (int d = 0; d < x.HeadDim; d++)
            {
                accumulator[d] += weight * x.Value[v + d];
            }
        }
        for (int d = 0; d < x.HeadDim; d++)
        {
            output[row + d] = accumulator[d] / sum;
        }
        return max + Math.Log(sum);
    }
}
