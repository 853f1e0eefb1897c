namespace Proteus;

/// <summary>
/// Views of the common attention layouts, all presented in the [B, H, T, D] order the operations take
/// (SPEC §1). None copies: each only chooses strides and offsets over the buffer.
/// </summary>
public static class TensorLayouts
{
    /// <summary>A buffer stored as [B, H, T, D], contiguous.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="buffer">Holds at least B·H·T·D elements.</param>
    /// <param name="batch">B, ≥ 1.</param>
    /// <param name="heads">H, ≥ 1.</param>
    /// <param name="seqLen">T, ≥ 1.</param>
    /// <param name="headDim">D, ≥ 1.</param>
    /// <returns>The [B, H, T, D] view.</returns>
    public static TensorView<T> Bhtd<T>(DeviceBuffer<T> buffer, long batch, long heads, long seqLen, long headDim)
        where T : unmanaged
    {
        CheckExtents(batch, seqLen, heads, headDim);
        CheckCapacity(buffer, [batch, heads, seqLen, headDim]);
        return new TensorView<T>(buffer, [batch, heads, seqLen, headDim]);
    }

    /// <summary>A buffer stored as [B, T, H, D] (token-major, as a projection writes it), viewed as [B, H, T, D].</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="buffer">Holds at least B·T·H·D elements.</param>
    /// <param name="batch">B, ≥ 1.</param>
    /// <param name="seqLen">T, ≥ 1.</param>
    /// <param name="heads">H, ≥ 1.</param>
    /// <param name="headDim">D, ≥ 1.</param>
    /// <returns>The [B, H, T, D] view.</returns>
    public static TensorView<T> Bthd<T>(DeviceBuffer<T> buffer, long batch, long seqLen, long heads, long headDim)
        where T : unmanaged
    {
        CheckExtents(batch, seqLen, heads, headDim);
        CheckCapacity(buffer, [batch, seqLen, heads, headDim]);
        return TokenMajorHeads(buffer, batch, seqLen, heads, headDim, tokenWidth: heads * headDim, firstHead: 0);
    }

    /// <summary>
    /// A fused QKV buffer stored as [B, T, H + 2·Hkv, D]: per token the H query heads, then the Hkv key
    /// heads, then the Hkv value heads (with Hkv = H this is the usual [B, T, 3, H, D]).
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="buffer">Holds at least B·T·(H + 2·Hkv)·D elements.</param>
    /// <param name="batch">B, ≥ 1.</param>
    /// <param name="seqLen">T, ≥ 1.</param>
    /// <param name="heads">H, the query heads, ≥ 1.</param>
    /// <param name="kvHeads">Hkv, the key and value heads, ≥ 1.</param>
    /// <param name="headDim">D, ≥ 1.</param>
    /// <returns>The query [B, H, T, D], key and value [B, Hkv, T, D] views.</returns>
    public static (TensorView<T> Query, TensorView<T> Key, TensorView<T> Value) FusedQkv<T>(
        DeviceBuffer<T> buffer, long batch, long seqLen, long heads, long kvHeads, long headDim)
        where T : unmanaged
    {
        CheckExtents(batch, seqLen, heads, headDim);
        ArgumentOutOfRangeException.ThrowIfLessThan(kvHeads, 1);
        long fusedHeads = checked(heads + 2 * kvHeads);
        CheckCapacity(buffer, [batch, seqLen, fusedHeads, headDim]);
        long tokenWidth = fusedHeads * headDim;
        return (
            TokenMajorHeads(buffer, batch, seqLen, heads, headDim, tokenWidth, firstHead: 0),
            TokenMajorHeads(buffer, batch, seqLen, kvHeads, headDim, tokenWidth, firstHead: heads),
            TokenMajorHeads(buffer, batch, seqLen, kvHeads, headDim, tokenWidth, firstHead: heads + kvHeads));
    }

    /// <summary>[B, H, T, D] view of <paramref name="heads"/> consecutive heads from <paramref name="firstHead"/> in token-major storage of <paramref name="tokenWidth"/> elements per token.</summary>
    private static TensorView<T> TokenMajorHeads<T>(
        DeviceBuffer<T> buffer, long batch, long seqLen, long heads, long headDim, long tokenWidth, long firstHead)
        where T : unmanaged =>
        new(buffer, [batch, heads, seqLen, headDim], [seqLen * tokenWidth, headDim, tokenWidth, 1], firstHead * headDim);

    private static void CheckExtents(long batch, long seqLen, long heads, long headDim)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(headDim, 1);
    }

    /// <summary>The buffer holds the whole storage of shape <paramref name="storageShape"/>.</summary>
    private static void CheckCapacity<T>(DeviceBuffer<T> buffer, ReadOnlySpan<long> storageShape)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer);
        long elements = 1;
        foreach (long extent in storageShape)
        {
            elements = checked(elements * extent);
        }
        if (elements > buffer.Length)
        {
            throw new ArgumentException(
                $"The layout [{string.Join(", ", storageShape.ToArray())}] needs {elements} elements; the buffer holds {buffer.Length}.",
                nameof(buffer));
        }
    }
}
