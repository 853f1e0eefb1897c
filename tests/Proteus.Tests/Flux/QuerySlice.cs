using System.Globalization;
using System.Runtime.InteropServices;
using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>
/// One query-slice problem (SPEC §1): keys and values of T rows, queries rows [p0, p0 + Tq) of a
/// full-length q. Every input element is a hash of (seed, tensor, index), so a slice's queries, mask
/// and expected rows are the same elements as the full-length call's without building the full q.
/// </summary>
public sealed record SliceCase
{
    public required int Seed { get; init; }

    public required DType DType { get; init; }

    public required int Batch { get; init; }

    public required int Heads { get; init; }

    public required int KvHeads { get; init; }

    public required int SeqLen { get; init; }

    public required int HeadDim { get; init; }

    public required FluxParameters Parameters { get; init; }

    /// <summary>p0.</summary>
    public required long QueryOffset { get; init; }

    /// <summary>Tq.</summary>
    public required long QueryLength { get; init; }

    /// <summary>Pass p0 explicitly (<see cref="FluxInputs{T}.QueryOffset"/>); else leave it null, which needs p0 = T − Tq.</summary>
    public required bool ExplicitOffset { get; init; }

    /// <summary>Queries, outputs, mask and lse as <see cref="TensorLayouts.QueryRows{T}"/> views of full-length buffers; else buffers of Tq rows.</summary>
    public required bool RowViews { get; init; }

    /// <summary>An active mask with about a third of the rows inactive.</summary>
    public required bool WithActiveMask { get; init; }

    /// <summary>The launch configuration (GPU only); null for the heuristic.</summary>
    public LaunchConfig? Launch { get; init; }

    /// <summary>The whole sequence as one slice: what the slices are compared with on the CPU.</summary>
    public SliceCase FullLength => this with { QueryOffset = 0, QueryLength = SeqLen, ExplicitOffset = false, RowViews = false };

    public override string ToString()
    {
        var p = Parameters;
        string budgets = p.Window >= SeqLen ? "dense" : string.Create(CultureInfo.InvariantCulture,
            $"{p.Policy} W{p.Window} S{p.AnchorStride} A{p.AnchorCount} K{p.DnaCount}{(p.Policy == CandidatePolicy.Seed ? $" L{p.SeedCap} Lloc{p.SeedLocalCap}" : "")}");
        return string.Create(CultureInfo.InvariantCulture,
            $"{DTypes.ShortName(DType)} B{Batch} H{Heads}Kv{KvHeads} T{SeqLen} D{HeadDim} {budgets} p0={QueryOffset} Tq={QueryLength}" +
            $"{(ExplicitOffset ? " explicit" : "")}{(RowViews ? " views" : "")}{(WithActiveMask ? " masked" : "")}" +
            $"{(Launch is { } l ? $" {l.Mode} q{l.BlockQ} k{l.BlockK} r{l.RowsPerWarp}" : "")} seed{Seed}");
    }
}

/// <summary>What a sliced call wrote: o [B, H, Tq, D] and lse [B, H, Tq] of the slice's rows, and what ran.</summary>
/// <param name="OutputBits">o's elements as raw bits, for bit-for-bit comparison.</param>
/// <param name="Output">o widened to double.</param>
/// <param name="Lse">lse.</param>
/// <param name="Active">Whether each of the B·H·Tq rows is active.</param>
/// <param name="OutsideRowsTouched">Elements of the full-length o or lse buffers outside the slice that changed (row views only).</param>
/// <param name="Run">The run info the call reported.</param>
public sealed record SliceResult(byte[] OutputBits, double[] Output, float[] Lse, bool[] Active, int OutsideRowsTouched, FluxRunInfo Run);

/// <summary>Runs <see cref="SliceCase"/>s through the managed API.</summary>
public static class QuerySlice
{
    private const int QueryTensor = 1, KeyTensor = 2, ValueTensor = 3, MaskTensor = 4, SalienceTensor = 5;

    /// <summary>Runs the case on <paramref name="device"/> (its launch only off the CPU backend).</summary>
    public static SliceResult Run(Device device, SliceCase c) => c.DType switch
    {
        DType.Float32 => Run<float>(device, c),
        DType.Float16 => Run<Half>(device, c),
        DType.BFloat16 => Run<BFloat16>(device, c),
        _ => throw new ArgumentOutOfRangeException(nameof(c), c.DType, "not a storage dtype"),
    };

    /// <summary>Rows [p0, p0 + Tq) of a full-length result, in the slice's [B, H, Tq(, D)] order.</summary>
    public static SliceResult Rows(SliceCase fullCase, SliceResult full, long p0, long tq)
    {
        int b = fullCase.Batch, h = fullCase.Heads, t = fullCase.SeqLen, d = fullCase.HeadDim;
        int elementSize = fullCase.DType == DType.Float32 ? 4 : 2;
        var bits = new List<byte>();
        var output = new List<double>();
        var lse = new List<float>();
        var active = new List<bool>();
        for (int row = 0; row < b * h; row++)
        {
            for (long i = p0; i < p0 + tq; i++)
            {
                long index = row * (long)t + i;
                bits.AddRange(full.OutputBits.AsSpan((int)(index * d * elementSize), d * elementSize).ToArray());
                output.AddRange(full.Output.AsSpan((int)(index * d), d).ToArray());
                lse.Add(full.Lse[index]);
                active.Add(full.Active[index]);
            }
        }
        return full with { OutputBits = bits.ToArray(), Output = output.ToArray(), Lse = lse.ToArray(), Active = active.ToArray() };
    }

    private static bool IsActive(SliceCase c, long row, long i) => !c.WithActiveMask || SplitMix.Value(c.Seed, MaskTensor, row * c.SeqLen + i) > -0.33f;

    private static T[] Tensor<T>(SliceCase c, int tensor, long rows, long firstPosition, long positions, long seqLen)
        where T : unmanaged
    {
        int d = c.HeadDim;
        var values = new T[checked((int)(rows * positions * d))];
        for (long row = 0; row < rows; row++)
        {
            for (long i = 0; i < positions; i++)
            {
                long source = (row * seqLen + firstPosition + i) * d;
                long target = (row * positions + i) * d;
                for (int e = 0; e < d; e++)
                {
                    values[target + e] = Element<T>.FromDouble(SplitMix.Value(c.Seed, tensor, source + e));
                }
            }
        }
        return values;
    }

    private static SliceResult Run<T>(Device device, SliceCase c)
        where T : unmanaged
    {
        int b = c.Batch, h = c.Heads, hkv = c.KvHeads, t = c.SeqLen, d = c.HeadDim;
        long p0 = c.QueryOffset, tq = c.QueryLength;
        var owned = new List<IDisposable>();
        try
        {
            DeviceBuffer<E> Upload<E>(E[] values) where E : unmanaged
            {
                var buffer = device.Upload<E>(values);
                owned.Add(buffer);
                return buffer;
            }

            var k = Upload(Tensor<T>(c, KeyTensor, b * hkv, 0, t, t));
            var v = Upload(Tensor<T>(c, ValueTensor, b * hkv, 0, t, t));
            TensorView<float>? salience = null;
            if (c.Parameters.DnaCount > 0)
            {
                var values = new float[b * t];
                for (int n = 0; n < values.Length; n++)
                {
                    values[n] = SplitMix.Value(c.Seed, SalienceTensor, n);
                }
                salience = new TensorView<float>(Upload(values), [b, t]);
            }

            // Row views hold all T rows (NaN outside the slice for o and lse, to catch stray writes); else Tq rows.
            long stored = c.RowViews ? t : tq;
            long first = c.RowViews ? 0 : p0;
            var q = Upload(Tensor<T>(c, QueryTensor, b * h, first, stored, t));
            var o = Upload(Enumerable.Repeat(Element<T>.NaN, checked((int)(b * h * stored * d))).ToArray());
            var lse = Upload(Enumerable.Repeat(float.NaN, checked((int)(b * h * stored))).ToArray());
            var mask = new byte[b * h * stored];
            for (long row = 0; row < b * h; row++)
            {
                for (long i = 0; i < stored; i++)
                {
                    mask[row * stored + i] = IsActive(c, row, first + i) ? (byte)1 : (byte)0;
                }
            }
            var active = c.WithActiveMask ? Upload(mask) : null;

            TensorView<E> Sliced<E>(TensorView<E> view) where E : unmanaged => c.RowViews ? TensorLayouts.QueryRows(view, p0, tq) : view;
            var inputs = new FluxInputs<T>
            {
                Query = Sliced(TensorLayouts.Bhtd(q, b, h, stored, d)),
                Key = TensorLayouts.Bhtd(k, b, hkv, t, d),
                Value = TensorLayouts.Bhtd(v, b, hkv, t, d),
                Output = Sliced(TensorLayouts.Bhtd(o, b, h, stored, d)),
                Active = active is null ? null : Sliced(new TensorView<byte>(active, [b, h, stored])),
                Salience = salience,
                Lse = Sliced(new TensorView<float>(lse, [b, h, stored])),
                QueryOffset = c.ExplicitOffset ? p0 : null,
            };
            var run = new FluxAttention(device).Run(inputs, c.Parameters, device.Backend == Backend.Cpu ? null : c.Launch);
            device.Synchronize();

            T[] allOutput = o.ToArray();
            float[] allLse = lse.ToArray();
            var outputBits = new List<byte>();
            var outputValues = new List<double>();
            var lseValues = new List<float>();
            var activeRows = new List<bool>();
            int outsideTouched = 0;
            for (long row = 0; row < b * h; row++)
            {
                for (long i = 0; i < stored; i++)
                {
                    long index = row * stored + i;
                    var elements = allOutput.AsSpan((int)(index * d), d);
                    bool inSlice = !c.RowViews || (i >= p0 && i < p0 + tq);
                    if (!inSlice)
                    {
                        outsideTouched += !float.IsNaN(allLse[index]) ? 1 : 0;
                        foreach (T element in elements)
                        {
                            outsideTouched += double.IsNaN(Element<T>.ToDouble(element)) ? 0 : 1;
                        }
                        continue;
                    }
                    outputBits.AddRange(MemoryMarshal.AsBytes(elements).ToArray());
                    foreach (T element in elements)
                    {
                        outputValues.Add(Element<T>.ToDouble(element));
                    }
                    lseValues.Add(allLse[index]);
                    activeRows.Add(mask[index] != 0);
                }
            }
            return new SliceResult(outputBits.ToArray(), outputValues.ToArray(), lseValues.ToArray(), activeRows.ToArray(), outsideTouched, run);
        }
        finally
        {
            foreach (var buffer in owned)
            {
                buffer.Dispose();
            }
        }
    }

    /// <summary>
    /// Every output written and finite; inactive rows o = 0 and lse = −∞; o and lse within the SPEC §9
    /// relative L2 error of <paramref name="expected"/>; nothing outside the slice written.
    /// </summary>
    public static void AssertClose(SliceCase c, SliceResult actual, SliceResult expected, string against)
    {
        double limit = DTypes.Tolerance(c.DType);
        int d = c.HeadDim;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(actual.OutsideRowsTouched, Is.Zero, "elements written outside the slice's rows");
            Assert.That(actual.Output.All(double.IsFinite), Is.True, "o has NaN or Inf (or was left unwritten)");
            Assert.That(actual.Active, Is.EqualTo(expected.Active));
            for (int row = 0; row < actual.Active.Length; row++)
            {
                if (!actual.Active[row])
                {
                    Assert.That(actual.Output.AsSpan(row * d, d).ToArray(), Is.All.Zero, $"inactive row {row}: o");
                    Assert.That(actual.Lse[row], Is.EqualTo(float.NegativeInfinity), $"inactive row {row}: lse");
                }
            }
            Assert.That(FluxAssert.RelativeL2(actual.Output, expected.Output), Is.LessThanOrEqualTo(limit), $"relative L2 error of o against the {against}");
            double[] activeLse = actual.Lse.Where((_, row) => actual.Active[row]).Select(x => (double)x).ToArray();
            double[] expectedLse = expected.Lse.Where((_, row) => expected.Active[row]).Select(x => (double)x).ToArray();
            Assert.That(activeLse.All(double.IsFinite), Is.True, "lse of an active row is not finite");
            Assert.That(FluxAssert.RelativeL2(activeLse, expectedLse), Is.LessThanOrEqualTo(limit), $"relative L2 error of lse against the {against}");
        }
    }
}
