using Proteus.Interop;

namespace Proteus;

/// <summary>
/// A strided view of a <see cref="DeviceBuffer{T}"/> (docs/flux-attention.md §1): a shape, element strides per axis and an
/// element offset. Views copy nothing; [B,H,T,D], [B,T,H,D] and fused QKV storage are all views of
/// one buffer (see <see cref="TensorLayouts"/>). The library checks at each call that the view lies
/// within its buffer and that the innermost axis is contiguous.
/// </summary>
/// <typeparam name="T">The element type of the buffer.</typeparam>
public readonly struct TensorView<T>
    where T : unmanaged
{
    private readonly long[]? _shape;
    private readonly long[]? _strides;

    /// <summary>Creates a view.</summary>
    /// <param name="buffer">The buffer holding the elements.</param>
    /// <param name="shape">The extent of each axis; 1 to 4 axes.</param>
    /// <param name="strides">The stride of each axis in elements; null for the contiguous row-major strides of <paramref name="shape"/>.</param>
    /// <param name="offset">The element index of element [0, …, 0] within the buffer.</param>
    /// <exception cref="ArgumentException">The rank is outside 1..4, or <paramref name="strides"/> has another length than <paramref name="shape"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="offset"/> is negative, or the byte address of an element of the view overflows 64 bits
    /// (the exception names <paramref name="shape"/>, <paramref name="strides"/> or <paramref name="offset"/>).
    /// Other checks (extents ≥ 1, strides ≥ 0, the view within its buffer) are the library's, at the call.
    /// </exception>
    public TensorView(DeviceBuffer<T> buffer, long[] shape, long[]? strides = null, long offset = 0)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length is < 1 or > NativeConstants.MaxRank)
        {
            throw new ArgumentException($"A tensor has 1 to {NativeConstants.MaxRank} axes, not {shape.Length}.", nameof(shape));
        }
        if (strides != null && strides.Length != shape.Length)
        {
            throw new ArgumentException($"{strides.Length} strides for {shape.Length} axes.", nameof(strides));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(offset);

        Buffer = buffer;
        Offset = offset;
        _shape = (long[])shape.Clone();
        _strides = strides != null ? (long[])strides.Clone() : ContiguousStrides(_shape);
        CheckAddressable(_shape, _strides, offset, strides != null ? nameof(strides) : nameof(shape));
    }

    /// <summary>The buffer holding the elements (null only for a default-initialised view).</summary>
    public DeviceBuffer<T> Buffer { get; }

    /// <summary>The element index of element [0, …, 0] within the buffer.</summary>
    public long Offset { get; }

    /// <summary>The extent of each axis.</summary>
    public IReadOnlyList<long> Shape => _shape ?? [];

    /// <summary>The stride of each axis, in elements.</summary>
    public IReadOnlyList<long> Strides => _strides ?? [];

    /// <summary>The number of axes.</summary>
    public int Rank => _shape?.Length ?? 0;

    /// <summary>
    /// The sub-view of elements [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>)
    /// along <paramref name="axis"/>, the other axes whole: same buffer and strides, a later offset.
    /// </summary>
    /// <param name="axis">The axis, 0 ≤ axis &lt; <see cref="Rank"/>.</param>
    /// <param name="start">The first index kept, ≥ 0.</param>
    /// <param name="length">The number of indices kept, ≥ 1, with start + length ≤ the extent.</param>
    /// <returns>The sub-view.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside the view.</exception>
    public TensorView<T> Slice(int axis, long start, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(axis);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(axis, Rank);
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        long extent = _shape![axis];
        if (start > extent - length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"[{start}, {start} + {length}) runs past the axis' extent {extent}.");
        }
        var shape = (long[])_shape.Clone();
        shape[axis] = length;
        // Within the view, so the constructor's overflow check holds for it too.
        return new TensorView<T>(Buffer, shape, _strides, Offset + start * _strides![axis]);
    }

    /// <summary>The view as the C ABI describes it; the caller holds a reference on the buffer through <paramref name="held"/>.</summary>
    internal unsafe ProteusTensor ToNative(HandleReferences held, string name)
    {
        if (Buffer is null)
        {
            throw new ArgumentException($"The {name} view has no buffer (a default TensorView).", name);
        }
        Buffer.ThrowIfDisposed();
        var tensor = new ProteusTensor
        {
            Buffer = held.Add(Buffer.Lease),
            // The constructor checked that every byte offset of the view fits in 64 bits.
            OffsetBytes = (ulong)Offset * (ulong)ElementType<T>.Size,
            Dtype = ElementType<T>.NativeDType,
            Rank = Rank,
        };
        for (int axis = 0; axis < NativeConstants.MaxRank; axis++)
        {
            // The C ABI wants unused axes with extent 1 and stride 0.
            tensor.Shape[axis] = axis < Rank ? _shape![axis] : 1;
            tensor.Strides[axis] = axis < Rank ? _strides![axis] : 0;
        }
        return tensor;
    }

    /// <summary>The row-major strides of <paramref name="shape"/>; <see cref="ArgumentOutOfRangeException"/> naming the shape when they overflow.</summary>
    private static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long stride = 1;
        for (int axis = shape.Length - 1; axis >= 0; axis--)
        {
            strides[axis] = stride;
            // The outermost extent only bounds the view, it makes no stride.
            if (axis > 0 && !TryMultiply(stride, Math.Max(shape[axis], 0), out stride))
            {
                throw new ArgumentOutOfRangeException(nameof(shape), $"The contiguous strides of [{string.Join(", ", shape)}] overflow 64 bits.");
            }
        }
        return strides;
    }

    /// <summary>
    /// The byte offset of every element (offset + Σ (extent − 1)·stride, times the element size) fits in 64
    /// bits. Negative extents and strides are left to the library, which names them at the call.
    /// </summary>
    private static void CheckAddressable(long[] shape, long[] strides, long offset, string layoutName)
    {
        long elementSize = ElementType<T>.Size;
        if (offset > long.MaxValue / elementSize)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"The byte offset of element {offset} overflows 64 bits.");
        }
        long last = offset;
        for (int axis = 0; axis < shape.Length; axis++)
        {
            if (shape[axis] < 1 || strides[axis] < 0)
            {
                continue;
            }
            if (!TryMultiply(shape[axis] - 1, strides[axis], out long span) || span > long.MaxValue - last)
            {
                throw new ArgumentOutOfRangeException(layoutName,
                    $"The view [{string.Join(", ", shape)}] with strides [{string.Join(", ", strides)}] from element {offset} reaches past 2^63 elements.");
            }
            last += span;
        }
        if (last > long.MaxValue / elementSize)
        {
            throw new ArgumentOutOfRangeException(layoutName, $"The byte offset of the view's last element ({last}) overflows 64 bits.");
        }
    }

    private static bool TryMultiply(long a, long b, out long product)
    {
        Int128 wide = (Int128)a * b;
        bool fits = wide <= long.MaxValue && wide >= long.MinValue;
        product = fits ? (long)wide : 0;
        return fits;
    }
}
