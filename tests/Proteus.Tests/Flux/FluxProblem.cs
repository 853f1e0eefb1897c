using Proteus.Tests.Reference;
using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>
/// The host-side data of a <see cref="FluxCase"/>: fresh random inputs, already rounded to the storage
/// dtype, the active mask and salience, and the float64 reference output.
/// </summary>
public sealed class FluxProblem
{
    private FluxProblem(FluxCase @case, ReferenceInputs inputs, byte[]? activeMask, float[]? salience)
    {
        Case = @case;
        Inputs = inputs;
        ActiveMask = activeMask;
        Salience = salience;
    }

    public FluxCase Case { get; }

    /// <summary>q, k, v as stored (rounded to the dtype), the active rows and the scale.</summary>
    public ReferenceInputs Inputs { get; }

    /// <summary>active [B, H, T] as passed to the library (0 inactive, 1 or 255 active), or null.</summary>
    public byte[]? ActiveMask { get; }

    /// <summary>salience [B, T], or null.</summary>
    public float[]? Salience { get; }

    /// <summary>Draws the inputs of <paramref name="case"/> from its seed.</summary>
    public static FluxProblem Create(FluxCase @case)
    {
        var c = @case;
        var random = new Random(c.Seed * 7919 + 1);
        double[] Uniform(long count, double amplitude)
        {
            var values = new double[count];
            for (long n = 0; n < count; n++)
            {
                // Fresh values every case: an all-zero or constant input would hide a kernel that reads the wrong keys.
                values[n] = DTypes.Round(c.DType, amplitude * (2 * random.NextDouble() - 1));
            }
            return values;
        }

        long queryCount = (long)c.Batch * c.Heads * c.SeqLen * c.HeadDim;
        long keyCount = (long)c.Batch * c.KvHeads * c.SeqLen * c.HeadDim;
        var query = Uniform(queryCount, c.QueryAmplitude);
        var key = Uniform(keyCount, 1);
        var value = Uniform(keyCount, 1);
        if (c.Layout == StorageLayout.BroadcastKeyValue)
        {
            // One k and v for the whole batch, as the batch stride of 0 makes the library read them.
            long perBatch = keyCount / c.Batch;
            for (long n = perBatch; n < keyCount; n++)
            {
                key[n] = key[n % perBatch];
                value[n] = value[n % perBatch];
            }
        }

        byte[]? activeMask = null;
        if (c.WithActiveMask)
        {
            activeMask = new byte[c.Batch * c.Heads * c.SeqLen];
            for (int n = 0; n < activeMask.Length; n++)
            {
                // The C ABI reads any nonzero byte as active.
                activeMask[n] = random.NextDouble() < c.InactiveFraction ? (byte)0 : random.Next(2) == 0 ? (byte)1 : (byte)255;
            }
            activeMask[0] = 0; // at least one inactive row
            if (activeMask.Length > 1)
            {
                activeMask[^1] = 1; // and one active
            }
        }

        float[]? salience = null;
        if (c.WithSalience)
        {
            salience = new float[c.Batch * c.SeqLen];
            for (int n = 0; n < salience.Length; n++)
            {
                salience[n] = c.TiedSalience ? random.Next(4) / 4f : (float)random.NextDouble();
            }
        }

        double scale = c.Parameters.Scale is { } explicitScale ? explicitScale : 1 / Math.Sqrt(c.HeadDim);
        var inputs = new ReferenceInputs(
            c.Batch, c.Heads, c.KvHeads, c.SeqLen, c.HeadDim, query, key, value,
            activeMask?.Select(a => a != 0).ToArray(), scale);
        return new FluxProblem(c, inputs, activeMask, salience);
    }

    /// <summary>
    /// The float64 reference: dense causal attention when the budgets cover the sequence (so that case is
    /// checked against a computation with no candidate logic), else attention over the brute-force C(i).
    /// </summary>
    public ReferenceOutputs Reference()
    {
        if (Case.CoversSequence)
        {
            return ReferenceAttention.DenseCausal(Inputs);
        }
        return ReferenceAttention.Compute(Inputs, (b, i) => CandidateSets.Of(Case.Parameters, Case.SeqLen, SalienceOf(b), i));
    }

    /// <summary>salience[b, 0..T), or empty when the case has none.</summary>
    public ReadOnlySpan<float> SalienceOf(int batch) =>
        Salience is null ? [] : Salience.AsSpan(batch * Case.SeqLen, Case.SeqLen);
}
