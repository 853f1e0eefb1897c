namespace Proteus.Tests.Layer;

/// <summary>
/// Tensors for the layer operations' validation tests on one device: inputs filled with a value, and
/// outputs poisoned with a sentinel that <see cref="AssertOutputsUntouched"/> checks is still there, so a
/// rejected call is seen to have written nothing. Freed with the instance.
/// </summary>
public sealed class LayerTensors : IDisposable
{
    private readonly List<IDisposable> owned = [];
    private readonly List<Action> untouched = [];

    public LayerTensors(Device device) => Device = device;

    public Device Device { get; }

    /// <summary>A buffer of <paramref name="length"/> elements filled with <paramref name="fill"/>.</summary>
    public DeviceBuffer<T> Buffer<T>(long length, T fill)
        where T : unmanaged
    {
        var buffer = Device.Allocate<T>(length);
        owned.Add(buffer);
        buffer.Fill(fill);
        return buffer;
    }

    /// <summary>A contiguous input of <paramref name="shape"/> filled with <paramref name="fill"/>.</summary>
    public TensorView<T> Input<T>(T fill, params long[] shape)
        where T : unmanaged =>
        new(Buffer(shape.Aggregate(1L, (a, e) => a * e), fill), shape);

    /// <summary>A contiguous output of <paramref name="shape"/> poisoned with <paramref name="poison"/>, checked by <see cref="AssertOutputsUntouched"/>.</summary>
    public TensorView<T> Output<T>(T poison, params long[] shape)
        where T : unmanaged
    {
        var view = Input(poison, shape);
        Watch(view.Buffer, poison);
        return view;
    }

    /// <summary>Checks in <see cref="AssertOutputsUntouched"/> that every element of <paramref name="buffer"/> is still <paramref name="poison"/>.</summary>
    public void Watch<T>(DeviceBuffer<T> buffer, T poison)
        where T : unmanaged =>
        untouched.Add(() => Assert.That(buffer.ToArray(), Is.All.EqualTo(poison), $"{buffer} was written by a rejected call"));

    public void AssertOutputsUntouched()
    {
        foreach (var check in untouched)
        {
            check();
        }
    }

    public void Dispose()
    {
        foreach (var buffer in owned)
        {
            buffer.Dispose();
        }
    }
}
