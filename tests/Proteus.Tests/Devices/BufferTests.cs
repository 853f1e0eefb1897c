using Proteus.Tests.Support;

namespace Proteus.Tests.Devices;

/// <summary>DeviceBuffer copies, fills and sizes, for every element type.</summary>
[TestFixture]
public sealed class BufferTests
{
    private Device device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenUnderTest();

    [OneTimeTearDown]
    public void CloseDevice() => device.Dispose();

    [Test]
    public void UploadedElementsComeBackBitForBit()
    {
        float[] singles = [1.5f, -0f, float.NaN, float.Epsilon, float.MaxValue];
        Half[] halves = [(Half)1.5f, Half.NaN, Half.Epsilon, Half.MaxValue];
        BFloat16[] brains = [(BFloat16)1.5f, (BFloat16)float.NaN, (BFloat16)(-3e38f)];
        byte[] bytes = [0, 1, 255];
        using var a = device.Upload<float>(singles);
        using var b = device.Upload<Half>(halves);
        using var c = device.Upload<BFloat16>(brains);
        using var d = device.Upload<byte>(bytes);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(a.ToArray().Select(BitConverter.SingleToUInt32Bits), Is.EqualTo(singles.Select(BitConverter.SingleToUInt32Bits)));
            Assert.That(b.ToArray().Select(BitConverter.HalfToUInt16Bits), Is.EqualTo(halves.Select(BitConverter.HalfToUInt16Bits)));
            Assert.That(c.ToArray().Select(x => x.RawValue), Is.EqualTo(brains.Select(x => x.RawValue)));
            Assert.That(d.ToArray(), Is.EqualTo(bytes));
            Assert.That(a.Length, Is.EqualTo(5));
            Assert.That(a.SizeInBytes, Is.EqualTo(20UL));
            Assert.That(b.SizeInBytes, Is.EqualTo(8UL));
            Assert.That(c.SizeInBytes, Is.EqualTo(6UL));
        }
    }

    [Test]
    public void CopiesAtAnOffsetTouchOnlyThatRange()
    {
        using var buffer = device.Upload<float>([0f, 1f, 2f, 3f, 4f, 5f]);
        buffer.CopyFrom([10f, 11f], offset: 3);
        var middle = new float[3];
        buffer.CopyTo(middle, offset: 2);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(buffer.ToArray(), Is.EqualTo(new[] { 0f, 1f, 2f, 10f, 11f, 5f }));
            Assert.That(middle, Is.EqualTo(new[] { 2f, 10f, 11f }));
        }
    }

    [Test]
    public void CopiesPastTheEndAreRejected()
    {
        using var buffer = device.Allocate<float>(4);
        using (Assert.EnterMultipleScope())
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => buffer.CopyFrom([1f, 2f], offset: 3));
            Assert.Throws<ArgumentOutOfRangeException>(() => buffer.CopyTo(new float[5]));
            Assert.Throws<ArgumentOutOfRangeException>(() => buffer.CopyFrom([1f], offset: -1));
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Allocate<float>(0));
        }
    }

    [Test]
    public void FillRepeatsTheValueAndDeviceCopyCopies()
    {
        using var source = device.Allocate<Half>(7);
        source.Fill((Half)(-2.5f));
        using var destination = device.Upload<Half>(Enumerable.Repeat((Half)9, 9).ToArray());
        destination.CopyFrom(source);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(source.ToArray(), Is.All.EqualTo((Half)(-2.5f)));
            Assert.That(destination.ToArray(), Is.EqualTo(Enumerable.Repeat((Half)(-2.5f), 7).Concat([(Half)9, (Half)9])));
        }
    }

    [Test]
    public void DevicePointerIsNonNullAndStable()
    {
        using var buffer = device.Allocate<float>(16);
        nint first = buffer.DevicePointer;
        Assert.That(first, Is.Not.EqualTo(nint.Zero));
        Assert.That(buffer.DevicePointer, Is.EqualTo(first));
    }
}
