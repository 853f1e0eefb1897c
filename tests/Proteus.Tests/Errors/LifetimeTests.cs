using Proteus.Tests.Support;

namespace Proteus.Tests.Errors;

/// <summary>Disposal, use after disposal and buffers used with the wrong device.</summary>
[TestFixture]
public sealed class LifetimeTests
{
    [Test]
    public void DisposedBufferThrowsObjectDisposedAndDisposesTwiceSafely()
    {
        using var device = TestDevices.OpenUnderTest();
        var buffer = device.Upload<float>([1f, 2f, 3f]);
        buffer.Dispose();
        buffer.Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(buffer.IsDisposed, Is.True);
            Assert.Throws<ObjectDisposedException>(() => buffer.ToArray());
            Assert.Throws<ObjectDisposedException>(() => buffer.CopyFrom([4f]));
            Assert.Throws<ObjectDisposedException>(() => buffer.Fill(0f));
            Assert.Throws<ObjectDisposedException>(() => _ = buffer.DevicePointer);
        }
        DeviceHealth.AssertComputesCorrectly(device);
    }

    [Test]
    public void FluxAttentionWithADisposedBufferThrowsObjectDisposed()
    {
        using var device = TestDevices.OpenUnderTest();
        using var problem = new SmallProblem(device);
        problem.Key.Buffer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => problem.Run(problem.With()));
        DeviceHealth.AssertComputesCorrectly(device);
    }

    [Test]
    public void DisposedDeviceThrowsObjectDisposedAndDisposesTwiceSafely()
    {
        var device = TestDevices.OpenUnderTest();
        device.Dispose();
        device.Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(device.IsDisposed, Is.True);
            Assert.Throws<ObjectDisposedException>(() => device.Allocate<float>(4));
            Assert.Throws<ObjectDisposedException>(() => device.GetMemoryStats());
            Assert.Throws<ObjectDisposedException>(() => device.Synchronize());
            Assert.Throws<ObjectDisposedException>(() => device.ResetPeak());
            Assert.Throws<ObjectDisposedException>(() => Shortlist.Gather(device, FluxParameters.Dense, 4, null, 0, [1]));
        }
    }

    [Test]
    public void DeviceDisposedBeforeItsBuffersInvalidatesThemSafely()
    {
        var device = TestDevices.OpenUnderTest();
        var buffer = device.Upload<Half>([(Half)1, (Half)2]);
        using var problem = new SmallProblem(device);
        device.Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(buffer.IsDisposed, Is.True, "a device's buffers go with it");
            Assert.Throws<ObjectDisposedException>(() => buffer.ToArray());
            Assert.Throws<ObjectDisposedException>(() => problem.Run(problem.With()));
            Assert.DoesNotThrow(buffer.Dispose);
        }
        using var other = TestDevices.OpenUnderTest();
        DeviceHealth.AssertComputesCorrectly(other);
    }

    [Test]
    public void BufferOfOneDeviceIsRejectedByAnother()
    {
        // Two contexts of the same CPU device are two devices to the library.
        using var first = Device.Open(Backend.Cpu);
        using var second = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(first);
        var exception = Assert.Throws<ProteusDeviceMismatchException>(() => new FluxAttention(second).Run(problem.With(), FluxParameters.Dense));
        Assert.That(exception.Status, Is.EqualTo(Status.DeviceMismatch));
        Assert.That(exception.Message, Does.Contain("q.buffer"));
        DeviceHealth.AssertComputesCorrectly(first);
        DeviceHealth.AssertComputesCorrectly(second);
    }

    [Test]
    public void OutputOnAnotherDeviceIsRejected()
    {
        using var first = Device.Open(Backend.Cpu);
        using var second = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(first);
        using var elsewhere = new SmallProblem(second);
        var exception = Assert.Throws<ProteusDeviceMismatchException>(() => problem.Run(problem.With(output: elsewhere.Output)));
        Assert.That(exception.Message, Does.Contain("o.buffer"));
    }

    [Test]
    public void CopyBetweenBuffersOfTwoDevicesIsRejected()
    {
        using var first = Device.Open(Backend.Cpu);
        using var second = Device.Open(Backend.Cpu);
        using var source = first.Upload<float>([1f, 2f]);
        using var destination = second.Allocate<float>(2);
        Assert.Throws<ProteusDeviceMismatchException>(() => destination.CopyFrom(source));
    }

    [Test]
    public void SalienceOfAnotherDeviceIsRejectedByGather()
    {
        using var first = Device.Open(Backend.Cpu);
        using var second = Device.Open(Backend.Cpu);
        using var salience = first.Upload<float>(new float[10]);
        Assert.Throws<ProteusDeviceMismatchException>(() =>
            Shortlist.Gather(second, new FluxParameters { Window = 2, DnaCount = 1 }, 10, new TensorView<float>(salience, [1, 10]), 0, [5]));
    }
}
