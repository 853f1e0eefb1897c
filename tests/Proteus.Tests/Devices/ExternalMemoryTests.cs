using System.Runtime.InteropServices;

namespace Proteus.Tests.Devices;

/// <summary>
/// Memory and streams from outside on the CPU backend: a wrap over a pinned managed array is used in
/// place and never freed; a device on the caller's stream (none on the CPU: zero) runs as any device.
/// </summary>
[TestFixture]
public sealed class ExternalMemoryTests
{
    private const int Heads = 2, SeqLen = 24, HeadDim = 16, Elements = Heads * SeqLen * HeadDim;

    [Test]
    public void AFluxCallRunsInPlaceOnWrappedHostArraysWhichOutliveTheWraps()
    {
        var random = new Random(31);
        float[] query = Enumerable.Range(0, Elements).Select(_ => random.NextSingle() - 0.5f).ToArray();
        float[] key = Enumerable.Range(0, Elements).Select(_ => random.NextSingle() - 0.5f).ToArray();
        float[] value = Enumerable.Range(0, Elements).Select(_ => random.NextSingle() - 0.5f).ToArray();
        float[] output = Enumerable.Repeat(float.NaN, Elements).ToArray();
        float[] originalQuery = (float[])query.Clone();
        var pins = new[] { query, key, value, output }.Select(array => GCHandle.Alloc(array, GCHandleType.Pinned)).ToArray();
        float[] expected;
        try
        {
            using (var device = Device.Open(Backend.Cpu))
            {
                ulong allocatedBefore = device.GetMemoryStats().AllocatedBytes;
                var wraps = pins.Select(pin => device.Wrap<float>(pin.AddrOfPinnedObject(), Elements)).ToArray();
                Assert.That(device.GetMemoryStats().AllocatedBytes, Is.EqualTo(allocatedBefore), "wrapped bytes are not the library's allocations");
                Assert.That(wraps[0].DevicePointer, Is.EqualTo(pins[0].AddrOfPinnedObject()), "the wrap is the array itself");

                var inputs = new FluxInputs<float>
                {
                    Query = TensorLayouts.Bhtd(wraps[0], 1, Heads, SeqLen, HeadDim),
                    Key = TensorLayouts.Bhtd(wraps[1], 1, Heads, SeqLen, HeadDim),
                    Value = TensorLayouts.Bhtd(wraps[2], 1, Heads, SeqLen, HeadDim),
                    Output = TensorLayouts.Bhtd(wraps[3], 1, Heads, SeqLen, HeadDim),
                };
                new FluxAttention(device).Run(inputs, FluxParameters.Dense);
                device.Synchronize();

                // The same call on library-owned copies gives the values the wrapped output holds.
                using var q = device.Upload<float>(query);
                using var k = device.Upload<float>(key);
                using var v = device.Upload<float>(value);
                using var o = device.Allocate<float>(Elements);
                new FluxAttention(device).Run(
                    new FluxInputs<float>
                    {
                        Query = TensorLayouts.Bhtd(q, 1, Heads, SeqLen, HeadDim),
                        Key = TensorLayouts.Bhtd(k, 1, Heads, SeqLen, HeadDim),
                        Value = TensorLayouts.Bhtd(v, 1, Heads, SeqLen, HeadDim),
                        Output = TensorLayouts.Bhtd(o, 1, Heads, SeqLen, HeadDim),
                    },
                    FluxParameters.Dense);
                expected = o.ToArray();

                wraps[0].Dispose();
                Assert.That(wraps[0].IsDisposed, Is.True);
                // The other wraps are left to the device's Dispose.
            }
            using (Assert.EnterMultipleScope())
            {
                Assert.That(output, Is.EqualTo(expected), "the output written in place into the wrapped array");
                Assert.That(query, Is.EqualTo(originalQuery), "the query array is intact after its wrap and the device are gone");
            }
            // Still the process's memory: writable and readable.
            Array.Fill(output, 1f);
            Assert.That(output.Sum(), Is.EqualTo(Elements));
        }
        finally
        {
            foreach (var pin in pins)
            {
                pin.Free();
            }
        }
    }

    [Test]
    public void WrapArgumentsAreChecked()
    {
        using var device = Device.Open(Backend.Cpu);
        var array = new float[4];
        var pin = GCHandle.Alloc(array, GCHandleType.Pinned);
        try
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Wrap<float>(pin.AddrOfPinnedObject(), 0));
            Assert.Throws<NotSupportedException>(() => device.Wrap<double>(pin.AddrOfPinnedObject(), 1));
            Assert.Throws<ProteusInvalidArgumentException>(() => device.Wrap<float>(0, 4));
        }
        finally
        {
            pin.Free();
        }
    }

    [Test]
    public void ADeviceOnTheDefaultStreamRunsLikeAnyDevice()
    {
        using var device = Device.OpenOnStream(Backend.Cpu, 0, 0);
        Assert.That(device.Backend, Is.EqualTo(Backend.Cpu));
        using var buffer = device.Upload<float>([1f, 2f, 3f]);
        buffer.Fill(4f);
        Assert.That(buffer.ToArray(), Is.EqualTo(new[] { 4f, 4f, 4f }));
    }

    [Test]
    public void TheCpuBackendHasNoStreams()
    {
        var exception = Assert.Throws<ProteusInvalidArgumentException>(() => Device.OpenOnStream(Backend.Cpu, 0, 0x1000));
        Assert.That(exception!.ArgumentName, Is.EqualTo("stream"));
    }
}

/// <summary>Library-owned buffers tell the GC their size, so buffers dropped without Dispose are collected.</summary>
[TestFixture]
[NonParallelizable]
public sealed class MemoryPressureTests
{
    [Test]
    public void DroppedBuffersTriggerCollectionsAndTheirMemoryIsReleased()
    {
        const long Bytes = 32L << 20;
        const int Count = 64;
        using var device = Device.Open(Backend.Cpu);
        ulong baseline = device.GetMemoryStats().AllocatedBytes;
        int collections = GC.CollectionCount(0);
        for (int n = 0; n < Count; n++)
        {
            // Dropped at once, never disposed: only the GC can give the memory back.
            _ = device.Allocate<byte>(Bytes);
        }
        Assert.That(GC.CollectionCount(0) - collections, Is.GreaterThan(0),
            $"collections while {Count} buffers of {Bytes >> 20} MiB were dropped (their managed objects are a few hundred bytes)");

        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.That(device.GetMemoryStats().AllocatedBytes, Is.EqualTo(baseline), "every dropped buffer freed by its finalizer");
    }
}
