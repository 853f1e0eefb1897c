namespace Proteus.Tests.Support;

/// <summary>Tensor views on fresh buffers, contiguous or at an offset with padded strides.</summary>
public static class Views
{
    /// <summary>
    /// A view of <paramref name="shape"/> on a new buffer (added to <paramref name="owned"/>). Padded: every
    /// axis but the innermost gets 1–3 elements of padding, the view starts 1–7 elements into the buffer and
    /// the buffer has 0–3 spare elements at its end.
    /// </summary>
    public static TensorView<T> Create<T>(Device device, List<IDisposable> owned, long[] shape, bool padded, Random random)
        where T : unmanaged
    {
        var strides = new long[shape.Length];
        strides[^1] = 1;
        for (int axis = shape.Length - 2; axis >= 0; axis--)
        {
            strides[axis] = strides[axis + 1] * shape[axis + 1] + (padded ? random.Next(1, 4) : 0);
        }
        long offset = padded ? random.Next(1, 8) : 0;
        long length = offset + 1 + (padded ? random.Next(0, 4) : 0);
        for (int axis = 0; axis < shape.Length; axis++)
        {
            length += (shape[axis] - 1) * strides[axis];
        }
        var buffer = device.Allocate<T>(length);
        owned.Add(buffer);
        return new TensorView<T>(buffer, shape, strides, offset);
    }
}
