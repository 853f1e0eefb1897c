namespace Proteus;

/// <summary>
/// Views of the common attention layouts, all presented in the [B, H, T, D] order the operations take
/// (docs/flux-attention.md §1). None copies: each only chooses strides and offsets over the buffer. Extents whose element
/// counts overflow 64 bits are an <see cref="ArgumentOutOfRangeException"/> naming the extent, raised here.
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
        CheckCapacity(buffer, Elements((batch, nameof(batch)), (heads, nameof(heads)), (seqLen, nameof(seqLen)), (headDim, nameof(headDim))),
            [batch, heads, seqLen, headDim]);
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
        CheckCapacity(buffer, Elements((batch, nameof(batch)), (seqLen, nameof(seqLen)), (heads, nameof(heads)), (headDim, nameof(headDim))),
            [batch, seqLen, heads, headDim]);
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
        if (kvHeads > (long.MaxValue - heads) / 2)
        {
            throw new ArgumentOutOfRangeException(nameof(kvHeads), kvHeads, $"H + 2·Hkv overflows 64 bits (H = {heads}).");
        }
        long fusedHeads = heads + 2 * kvHeads;
        CheckCapacity(buffer, Elements((batch, nameof(batch)), (seqLen, nameof(seqLen)), (fusedHeads, nameof(kvHeads)), (headDim, nameof(headDim))),
            [batch, seqLen, fusedHeads, headDim]);
        long tokenWidth = fusedHeads * headDim;
        return (
            TokenMajorHeads(buffer, batch, seqLen, heads, headDim, tokenWidth, firstHead: 0),
            TokenMajorHeads(buffer, batch, seqLen, kvHeads, headDim, tokenWidth, firstHead: heads),
            TokenMajorHeads(buffer, batch, seqLen, kvHeads, headDim, tokenWidth, firstHead: heads + kvHeads));
    }

    /// <summary>
    /// Query rows [<paramref name="firstRow"/>, <paramref name="firstRow"/> + <paramref name="rowCount"/>) of a
    /// full-length [B, H, T, D] view (query, output) or [B, H, T] view (active, lse): the [B, H, Tq, D] or
    /// [B, H, Tq] view a query slice takes, over the same storage. Pair it with
    /// <see cref="FluxInputs{T}.QueryOffset"/> = <paramref name="firstRow"/> (or leave that null when the rows
    /// are the last ones), and keys and values of all T rows.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="view">A rank-4 [B, H, T, D] or rank-3 [B, H, T] view.</param>
    /// <param name="firstRow">p0, ≥ 0.</param>
    /// <param name="rowCount">Tq, ≥ 1, with p0 + Tq ≤ T.</param>
    /// <returns>The [B, H, Tq, D] or [B, H, Tq] view.</returns>
    /// <exception cref="ArgumentException">The view is not of rank 3 or 4.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The rows lie outside the view.</exception>
    public static TensorView<T> QueryRows<T>(TensorView<T> view, long firstRow, long rowCount)
        where T : unmanaged
    {
        if (view.Rank is not (3 or 4))
        {
            throw new ArgumentException($"Query rows are axis 2 of a [B, H, T, D] or [B, H, T] view, not of a rank-{view.Rank} view.", nameof(view));
        }
        return view.Slice(2, firstRow, rowCount);
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

    /// <summary>
    /// The product of the extents (all ≥ 1), in storage order; <see cref="ArgumentOutOfRangeException"/>
    /// naming the extent at which it overflows. Every partial product of the storage is below the whole,
    /// so the strides and offsets of the views made from it cannot overflow either.
    /// </summary>
    private static long Elements(params (long Extent, string Name)[] extents)
    {
        long elements = 1;
        foreach ((long extent, string name) in extents)
        {
            if (elements > long.MaxValue / extent)
            {
                throw new ArgumentOutOfRangeException(name, extent,
                    $"The layout [{string.Join(", ", extents.Select(e => e.Extent))}] has more than 2^63 elements.");
            }
            elements *= extent;
        }
        return elements;
    }

    /// <summary>The buffer holds the whole storage of shape <paramref name="storageShape"/> (<paramref name="elements"/> elements).</summary>
    private static void CheckCapacity<T>(DeviceBuffer<T> buffer, long elements, ReadOnlySpan<long> storageShape)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (elements > buffer.Length)
        {
            throw new ArgumentException(
                $"The layout [{string.Join(", ", storageShape.ToArray())}] needs {elements} elements; the buffer holds {buffer.Length}.",
                nameof(buffer));
        }
    }
}
