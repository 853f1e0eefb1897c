namespace Proteus.Tests.Support;

/// <summary>
/// Host-side addressing of a tensor view: the storage position of every element, in logical row-major
/// order, so test data can be scattered into and gathered out of a downloaded buffer.
/// </summary>
public static class HostView
{
    /// <summary>offset + Σ index_k · stride_k for every index of the shape, row-major.</summary>
    public static long[] Positions(IReadOnlyList<long> shape, IReadOnlyList<long> strides, long offset)
    {
        long count = shape.Aggregate(1L, (a, e) => a * e);
        var positions = new long[count];
        var index = new long[shape.Count];
        for (long n = 0; n < count; n++)
        {
            long position = offset;
            for (int axis = 0; axis < shape.Count; axis++)
            {
                position += index[axis] * strides[axis];
            }
            positions[n] = position;
            for (int axis = shape.Count - 1; axis >= 0; axis--)
            {
                if (++index[axis] < shape[axis])
                {
                    break;
                }
                index[axis] = 0;
            }
        }
        return positions;
    }

    /// <summary>Positions of a view's elements in its buffer.</summary>
    public static long[] Positions<T>(TensorView<T> view) where T : unmanaged =>
        Positions(view.Shape, view.Strides, view.Offset);
}
