using Proteus.Interop;

namespace Proteus.Tests.Support;

/// <summary>
/// Tests that call the bindings directly: a context on the test backend per test, and the buffers a test
/// makes through <see cref="Buffer"/>, all released after it.
/// </summary>
public abstract unsafe class RawContextFixture
{
    /// <summary>The buffers made through <see cref="Buffer"/>, in order.</summary>
    protected readonly List<ProteusBufferHandle> buffers = [];

    /// <summary>The test's context.</summary>
    protected ProteusContextHandle context = null!;

    [SetUp]
    public void CreateContext()
    {
        _ = ProteusLibrary.Version; // installs the native library resolver
        Assert.That(NativeMethods.proteus_context_create((int)TestDevices.Backend, 0, out context), Is.EqualTo(ProteusStatus.Ok));
    }

    [TearDown]
    public void DestroyContext()
    {
        foreach (var buffer in buffers)
        {
            buffer.Dispose();
        }
        buffers.Clear();
        context.Dispose();
    }

    /// <summary>A new buffer of <paramref name="bytes"/> on the context, released after the test.</summary>
    protected ProteusBufferHandle Buffer(ulong bytes)
    {
        Assert.That(NativeMethods.proteus_buffer_create(context, bytes, out var buffer), Is.EqualTo(ProteusStatus.Ok));
        buffers.Add(buffer);
        return buffer;
    }
}
