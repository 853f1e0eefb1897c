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

    // Extents whose element count overflows 64 bits: an ArgumentOutOfRangeException naming the extent,
    // raised where the view is made, never an OverflowException (nor a silently wrapped stride).
    private const long Huge = 1L << 40;

    private static IEnumerable<TestCaseData> OverflowingLayouts()
    {
        TestCaseData Case(string name, string argument, Func<DeviceBuffer<float>, object> make) =>
            new TestCaseData(argument, make).SetArgDisplayNames(name);
        yield return Case("Bhtd T", "seqLen", b => TensorLayouts.Bhtd(b, 1 << 20, 1 << 20, Huge, 1));
        yield return Case("Bhtd D", "headDim", b => TensorLayouts.Bhtd(b, 1, 1, Huge, Huge));
        yield return Case("Bthd H", "heads", b => TensorLayouts.Bthd(b, 1, Huge, Huge, 1));
        yield return Case("FusedQkv Hkv", "kvHeads", b => TensorLayouts.FusedQkv(b, 1, 1, 1, long.MaxValue / 2 + 1, 1));
        yield return Case("FusedQkv fused heads", "kvHeads", b => TensorLayouts.FusedQkv(b, 1, Huge, 1, Huge, 1));
        yield return Case("FusedQkv T", "seqLen", b => TensorLayouts.FusedQkv(b, Huge, Huge, 1, 1, 1));
        yield return Case("TensorView shape", "shape", b => new TensorView<float>(b, [2, Huge, Huge, 1]));
        yield return Case("TensorView strides", "strides", b => new TensorView<float>(b, [3, 2], [long.MaxValue / 2, 1]));
        yield return Case("TensorView offset", "offset", b => new TensorView<float>(b, [1], null, long.MaxValue / 2));
        yield return Case("TensorView offset plus extent", "shape", b => new TensorView<float>(b, [Huge, 16], null, long.MaxValue / 4 - 100));
    }

    [TestCaseSource(nameof(OverflowingLayouts))]
    public void OverflowingExtentsAreAnArgumentOutOfRangeNamingTheArgument(string argument, Func<DeviceBuffer<float>, object> make)
    {
        using var buffer = device.Allocate<float>(16);
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => make(buffer));
        Assert.That(exception!.ParamName, Is.EqualTo(argument));
    }

    [Test]
    public void LargeButAddressableViewsAreStillMade()
    {
        // A view reaching element 2^61 − 1 of float ends below byte 2^63; one reaching 2^62 − 1 does not.
        // (The library, not the view, then checks that the view lies within its buffer.)
        using var buffer = device.Allocate<float>(16);
        Assert.That(new TensorView<float>(buffer, [1L << 31, 1L << 30]).Strides, Is.EqualTo(new[] { 1L << 30, 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new TensorView<float>(buffer, [1L << 32, 1L << 30]));
    }
}
