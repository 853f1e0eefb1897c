using Proteus.Tests.Support;

namespace Proteus.Tests.Devices;

/// <summary>The layout helpers give the [B, H, T, D] views SPEC §1 describes over their storage.</summary>
[TestFixture]
public sealed class TensorLayoutsTests
{
    private const long B = 2, T = 5, H = 4, Hkv = 2, D = 16;

    private Device device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenUnderTest();

    [OneTimeTearDown]
    public void CloseDevice() => device.Dispose();

    [Test]
    public void BhtdIsContiguousRowMajor()
    {
        using var buffer = device.Allocate<float>(B * H * T * D);
        var view = TensorLayouts.Bhtd(buffer, B, H, T, D);
        Assert.That(view.Shape, Is.EqualTo(new[] { B, H, T, D }));
        Assert.That(view.Strides, Is.EqualTo(new[] { H * T * D, T * D, D, 1 }));
        Assert.That(view.Offset, Is.Zero);
    }

    [Test]
    public void BthdIsViewedAsBhtdWithTokenMajorStrides()
    {
        using var buffer = device.Allocate<float>(B * T * H * D);
        var view = TensorLayouts.Bthd(buffer, B, T, H, D);
        Assert.That(view.Shape, Is.EqualTo(new[] { B, H, T, D }));
        Assert.That(view.Strides, Is.EqualTo(new[] { T * H * D, D, H * D, 1 }));
    }

    [Test]
    public void FusedQkvPlacesQueryThenKeyThenValueHeadsPerToken()
    {
        using var buffer = device.Allocate<BFloat16>(B * T * (H + 2 * Hkv) * D);
        var (q, k, v) = TensorLayouts.FusedQkv(buffer, B, T, H, Hkv, D);
        long token = (H + 2 * Hkv) * D;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(q.Shape, Is.EqualTo(new[] { B, H, T, D }));
            Assert.That(k.Shape, Is.EqualTo(new[] { B, Hkv, T, D }));
            Assert.That(v.Shape, Is.EqualTo(new[] { B, Hkv, T, D }));
            Assert.That(new[] { q.Strides, k.Strides, v.Strides }, Is.All.EqualTo(new[] { T * token, D, token, 1 }));
            Assert.That(new[] { q.Offset, k.Offset, v.Offset }, Is.EqualTo(new[] { 0, H * D, (H + Hkv) * D }));
        }
    }

    [Test]
    public void LayoutLargerThanItsBufferIsRejected()
    {
        using var buffer = device.Allocate<float>(B * H * T * D - 1);
        Assert.Throws<ArgumentException>(() => TensorLayouts.Bhtd(buffer, B, H, T, D));
    }
}
