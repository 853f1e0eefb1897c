namespace Proteus;

/// <summary>
/// The tensors of one flux attention call (SPEC §1–§2). Query and Output are [B, H, T, D], Key and Value
/// [B, Hkv, T, D] with H a multiple of Hkv, all of one element type (float, Half or BFloat16) on one device.
/// </summary>
/// <typeparam name="T">The element type of query, key, value and output.</typeparam>
public sealed class FluxInputs<T>
    where T : unmanaged
{
    /// <summary>q [B, H, T, D].</summary>
    public required TensorView<T> Query { get; init; }

    /// <summary>k [B, Hkv, T, D].</summary>
    public required TensorView<T> Key { get; init; }

    /// <summary>v [B, Hkv, T, D].</summary>
    public required TensorView<T> Value { get; init; }

    /// <summary>o [B, H, T, D], written by the call.</summary>
    public required TensorView<T> Output { get; init; }

    /// <summary>Optional mask [B, H, T]: nonzero computes the row; inactive rows get o = 0 and lse = −∞. Null: every row is active.</summary>
    public TensorView<byte>? Active { get; init; }

    /// <summary>Per-token salience [B, T]; required when <see cref="FluxParameters.DnaCount"/> is &gt; 0, else ignored.</summary>
    public TensorView<float>? Salience { get; init; }

    /// <summary>Optional output [B, H, T]: log Σ exp of the scores over each row's candidates.</summary>
    public TensorView<float>? Lse { get; init; }
}
