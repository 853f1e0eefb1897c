using Proteus.Interop;

namespace Proteus;

/// <summary>
/// A strided view of a <see cref="DeviceBuffer{T}"/> (SPEC §1): a shape, element strides per axis and an
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
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative.</exception>
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
        _strides = strides != null ? (long[])strides.Clone() : ContiguousStrides(shape);
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
            OffsetBytes = checked((ulong)Offset * (ulong)ElementType<T>.Size),
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

    private static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long stride = 1;
        for (int axis = shape.Length - 1; axis >= 0; axis--)
        {
            strides[axis] = stride;
            stride *= shape[axis];
        }
        return strides;
    }
}
