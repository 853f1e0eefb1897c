using System.Globalization;
using Proteus.Tests.Support;

namespace Proteus.Tests.Explicit;

/// <summary>
/// One explicit-candidate problem (docs/explicit-candidates.md): q [B, H, Tq, D] at rows p0 … p0 + Tq − 1,
/// k and v [B, Hkv, T, D], and the lists [B, Tq, L] (shared) or [B, H, Tq, L] (per head) with lengths.
/// The lists are given whole (<see cref="Lists"/>), so a test states exactly which indices a row has.
/// </summary>
public sealed record ExplicitProblem
{
    public required int Seed { get; init; }

    public DType DType { get; init; } = DType.Float32;

    public int Batch { get; init; } = 1;

    public int Heads { get; init; } = 2;

    public int KvHeads { get; init; } = 2;

    public required int SeqLen { get; init; }

    public int HeadDim { get; init; } = 16;

    /// <summary>p0; null: T − Tq (the default offset, not passed).</summary>
    public long? QueryOffset { get; init; }

    public required int QueryLength { get; init; }

    /// <summary>[B, H, Tq, L] when true, else [B, Tq, L].</summary>
    public bool PerHead { get; init; }

    /// <summary>Whether lengths are passed (else every list uses all L slots: the lists must then all have L entries).</summary>
    public bool WithLengths { get; init; } = true;

    /// <summary>About a third of the rows inactive.</summary>
    public bool Masked { get; init; }

    /// <summary>The list of each row in tensor order ((b, r) or (b, h, r) flattened).</summary>
    public required int[][] Lists { get; init; }

    public long P0 => QueryOffset ?? SeqLen - QueryLength;

    public int ListHeads => PerHead ? Heads : 1;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{DTypes.ShortName(DType)} B{Batch} H{Heads}Kv{KvHeads} T{SeqLen} D{HeadDim} p0={P0} Tq={QueryLength} " +
        $"{(PerHead ? "per-head" : "shared")} L{Lists.Max(l => l.Length)}{(WithLengths ? "" : " no-lengths")}{(Masked ? " masked" : "")} seed{Seed}");

    /// <summary>Random lists: each row's length in [minLength, maxLength], indices drawn from [−3, i + 3] (some out of range), sorted when asked.</summary>
    public static int[][] RandomLists(int seed, int rows, int queryLength, long p0, int minLength, int maxLength, bool sorted, bool outOfRange = true)
    {
        var random = new Random(seed);
        var lists = new int[rows][];
        for (int n = 0; n < rows; n++)
        {
            long i = p0 + n % queryLength;
            int length = random.Next(minLength, maxLength + 1);
            var list = new int[length];
            for (int s = 0; s < length; s++)
            {
                list[s] = outOfRange ? random.Next(-3, (int)i + 4) : random.Next(0, (int)i + 1);
            }
            if (sorted)
            {
                Array.Sort(list);
            }
            lists[n] = list;
        }
        return lists;
    }
}

/// <summary>What a run wrote: o as doubles [B, H, Tq, D], lse [B, H, Tq], which rows were active, and the run.</summary>
public sealed record ExplicitResult(double[] Output, float[] Lse, bool[] Active, FluxRunInfo? Run);

/// <summary>Runs <see cref="ExplicitProblem"/>s on a device, and the brute-force oracle.</summary>
public static class ExplicitRunner
{
    /// <summary>The stored (rounded) inputs: q [B, H, Tq, D], k, v [B, Hkv, T, D] as doubles, and the mask [B, H, Tq].</summary>
    public static (double[] Q, double[] K, double[] V, bool[] Active) Inputs(ExplicitProblem p)
    {
        double[] Tensor(int tensor, long count) => Enumerable.Range(0, checked((int)count))
            .Select(n => DTypes.Round(p.DType, SplitMix.Value(p.Seed, tensor, n) * 2)).ToArray();
        int d = p.HeadDim;
        double[] q = Tensor(1, (long)p.Batch * p.Heads * p.QueryLength * d);
        double[] k = Tensor(2, (long)p.Batch * p.KvHeads * p.SeqLen * d);
        double[] v = Tensor(3, (long)p.Batch * p.KvHeads * p.SeqLen * d);
        bool[] active = Enumerable.Range(0, p.Batch * p.Heads * p.QueryLength)
            .Select(n => !p.Masked || SplitMix.Value(p.Seed, 4, n) > -0.33f).ToArray();
        return (q, k, v, active);
    }

    /// <summary>
    /// SPEC §2 over the lists by brute force in float64, written from the documented semantics alone: every
    /// listed index j with 0 ≤ j ≤ p0 + r counts once per occurrence; a row with none (or inactive) is o = 0, lse = −∞.
    /// </summary>
    public static ExplicitResult Oracle(ExplicitProblem p)
    {
        var (q, k, v, active) = Inputs(p);
        int d = p.HeadDim, tq = p.QueryLength, group = p.Heads / p.KvHeads;
        double scale = 1 / Math.Sqrt(d);
        var output = new double[q.Length];
        var lse = new float[p.Batch * p.Heads * tq];
        for (int b = 0; b < p.Batch; b++)
        {
            for (int h = 0; h < p.Heads; h++)
            {
                for (int r = 0; r < tq; r++)
                {
                    int row = (b * p.Heads + h) * tq + r;
                    long i = p.P0 + r;
                    int[] list = p.Lists[p.PerHead ? row : b * tq + r];
                    var keys = list.Where(j => j >= 0 && j <= i).ToArray();
                    if (!active[row] || keys.Length == 0)
                    {
                        lse[row] = float.NegativeInfinity;
                        continue;
                    }
                    long kvRow = (long)(b * p.KvHeads + h / group) * p.SeqLen;
                    double[] scores = keys.Select(j =>
                    {
                        double dot = 0;
                        for (int e = 0; e < d; e++)
                        {
                            dot += q[(long)row * d + e] * k[(kvRow + j) * d + e];
                        }
                        return scale * dot;
                    }).ToArray();
                    double max = scores.Max();
                    double[] weights = scores.Select(s => Math.Exp(s - max)).ToArray();
                    double sum = weights.Sum();
                    for (int e = 0; e < d; e++)
                    {
                        double acc = 0;
                        for (int n = 0; n < keys.Length; n++)
                        {
                            acc += weights[n] * v[(kvRow + keys[n]) * d + e];
                        }
                        output[(long)row * d + e] = acc / sum;
                    }
                    lse[row] = (float)(max + Math.Log(sum));
                }
            }
        }
        return new ExplicitResult(output, lse, active, null);
    }

    /// <summary>The lists packed into the tensors of a call: indices [B, (H,) Tq, L] and lengths.</summary>
    public static ExplicitCandidates Pack(ExplicitProblem p) => ExplicitCandidates.Pack(p.Lists);

    public static ExplicitResult Run(Device device, ExplicitProblem p) => p.DType switch
    {
        DType.Float32 => Run<float>(device, p),
        DType.Float16 => Run<Half>(device, p),
        _ => Run<BFloat16>(device, p),
    };

    /// <summary>The call's inputs, with every buffer added to <paramref name="owned"/>.</summary>
    public static FluxInputs<T> Build<T>(Device device, ExplicitProblem p, List<IDisposable> owned)
        where T : unmanaged
    {
        var (q, k, v, active) = Inputs(p);
        DeviceBuffer<E> Upload<E>(E[] values) where E : unmanaged
        {
            var buffer = device.Upload<E>(values);
            owned.Add(buffer);
            return buffer;
        }
        int b = p.Batch, h = p.Heads, hkv = p.KvHeads, t = p.SeqLen, d = p.HeadDim, tq = p.QueryLength;
        ExplicitCandidates packed = Pack(p);
        long[] listShape = p.PerHead ? [b, h, tq, packed.SlotCount] : [b, tq, packed.SlotCount];
        long[] lengthShape = p.PerHead ? [b, h, tq] : [b, tq];
        return new FluxInputs<T>
        {
            Query = TensorLayouts.Bhtd(Upload(q.Select(Element<T>.FromDouble).ToArray()), b, h, tq, d),
            Key = TensorLayouts.Bhtd(Upload(k.Select(Element<T>.FromDouble).ToArray()), b, hkv, t, d),
            Value = TensorLayouts.Bhtd(Upload(v.Select(Element<T>.FromDouble).ToArray()), b, hkv, t, d),
            Output = TensorLayouts.Bhtd(Upload(Enumerable.Repeat(Element<T>.NaN, q.Length).ToArray()), b, h, tq, d),
            Lse = new TensorView<float>(Upload(Enumerable.Repeat(float.NaN, b * h * tq).ToArray()), [b, h, tq]),
            Active = p.Masked ? new TensorView<byte>(Upload(active.Select(a => a ? (byte)1 : (byte)0).ToArray()), [b, h, tq]) : null,
            QueryOffset = p.QueryOffset,
            CandidateLists = new TensorView<int>(Upload(packed.Indices), listShape),
            CandidateLengths = p.WithLengths ? new TensorView<int>(Upload(packed.Lengths), lengthShape) : null,
        };
    }

    private static ExplicitResult Run<T>(Device device, ExplicitProblem p)
        where T : unmanaged
    {
        var owned = new List<IDisposable>();
        try
        {
            FluxInputs<T> inputs = Build<T>(device, p, owned);
            var run = new FluxAttention(device) { Tuning = TuningMode.Off }.Run(inputs, FluxParameters.Explicit);
            device.Synchronize();
            double[] output = inputs.Output.Buffer.ToArray().Select(Element<T>.ToDouble).ToArray();
            float[] lse = inputs.Lse!.Value.Buffer!.ToArray();
            return new ExplicitResult(output, lse, Inputs(p).Active, run);
        }
        finally
        {
            owned.ForEach(o => o.Dispose());
        }
    }

    /// <summary>‖a − b‖ / ‖b‖ over the rows that have keys (others must match exactly, checked apart).</summary>
    public static double RelativeError(double[] actual, double[] expected)
    {
        double difference = 0, norm = 0;
        for (int n = 0; n < expected.Length; n++)
        {
            difference += (actual[n] - expected[n]) * (actual[n] - expected[n]);
            norm += expected[n] * expected[n];
        }
        return norm == 0 ? Math.Sqrt(difference) : Math.Sqrt(difference / norm);
    }
}
