namespace Proteus.Tests.Devices;

/// <summary>BFloat16 converts from float with round-to-nearest-even and widens exactly.</summary>
[TestFixture]
public sealed class BFloat16Tests
{
    [TestCase(1.0f, (ushort)0x3F80)]
    [TestCase(-2.0f, (ushort)0xC000)]
    [TestCase(0.5f, (ushort)0x3F00)]
    [TestCase(1.00390625f, (ushort)0x3F80)]      // 1 + 2^-8: a tie, to the even 1
    [TestCase(1.01171875f, (ushort)0x3F82)]      // 1 + 3·2^-8: a tie, to the even 1 + 2^-6
    [TestCase(1.0039064f, (ushort)0x3F81)]       // the float just above that tie: up
    [TestCase(float.PositiveInfinity, (ushort)0x7F80)]
    [TestCase(float.NegativeInfinity, (ushort)0xFF80)]
    [TestCase(3.4028235e38f, (ushort)0x7F80)]    // float max rounds to infinity
    [TestCase(-0.0f, (ushort)0x8000)]
    public void ConversionFromFloatRoundsToNearestEven(float value, ushort expected) =>
        Assert.That(((BFloat16)value).RawValue, Is.EqualTo(expected));

    [Test]
    public void NaNStaysNaN()
    {
        var nan = (BFloat16)float.NaN;
        Assert.That(BFloat16.IsNaN(nan), Is.True);
        Assert.That(float.IsNaN((float)nan), Is.True);
        Assert.That(BFloat16.IsNaN((BFloat16)BitConverter.UInt32BitsToSingle(0x7F800001)), Is.True, "a NaN whose payload is only in the low bits");
    }

    [Test]
    public void EveryBFloat16WidensToAFloatThatConvertsBack()
    {
        for (int raw = 0; raw <= ushort.MaxValue; raw++)
        {
            var value = BFloat16.FromRawValue((ushort)raw);
            float widened = (float)value;
            Assert.That(BitConverter.SingleToUInt32Bits(widened), Is.EqualTo((uint)raw << 16));
            if (!float.IsNaN(widened))
            {
                Assert.That(((BFloat16)widened).RawValue, Is.EqualTo((ushort)raw));
            }
        }
    }
}
