using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>
/// proteus_convert, proteus_norm and proteus_gelu (x and y [4, 8]; y may be x exactly, never part of it) and
/// proteus_rope (x [1, 2, 4, 8] in place) reject every bad argument before writing anything.
/// </summary>
[TestFixture]
public sealed class ElementwiseValidationTests : LayerValidationFixture
{
    private const long Rows = 4, Columns = 8;

    private TensorView<float> X() => Tensors.Input(0.5f, Rows, Columns);

    private TensorView<float> Y() => Tensors.Output(Poison, Rows, Columns);

    /// <summary>x over a poisoned buffer, and y one element further along it: they share all but one element.</summary>
    private (TensorView<float> X, TensorView<float> Y) Shifted()
    {
        var buffer = Tensors.Buffer(Rows * Columns + 1, Poison);
        Tensors.Watch(buffer, Poison);
        return (new TensorView<float>(buffer, [Rows, Columns]), new TensorView<float>(buffer, [Rows, Columns], offset: 1));
    }

    // ---- convert

    [Test]
    public void ConvertToAnotherShapeIsRejected() =>
        InvalidArgument(() => Ops.Convert(X(), Tensors.Output((Half)Poison, Rows, Columns + 1)), "y.shape");

    [Test]
    public void ConvertToAnotherRankIsRejected() =>
        InvalidArgument(() => Ops.Convert(X(), Tensors.Output((Half)Poison, 1, Rows, Columns)), "y.rank");

    [Test]
    public void ConvertIntoPartOfItsInputIsRejected()
    {
        var (x, y) = Shifted();
        InvalidArgument(() => Ops.Convert(x, y), "y");
    }

    [Test]
    public void ConvertOfBytesIsUnsupported() =>
        UnsupportedDType(() => Ops.Convert(Tensors.Input<byte>(1, Rows, Columns), Y()), "x.dtype");

    [Test]
    public void ConvertInPlacePassesValidation()
    {
        var x = X();
        Assert.DoesNotThrow(() => Ops.Convert(x, x));
    }

    // ---- norm

    [TestCase(0f)]
    [TestCase(-1e-5f)]
    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    public void NormEpsilonThatIsNotPositiveIsRejected(float eps) =>
        InvalidArgument(() => Ops.Norm(X(), null, null, Y(), eps: eps), "params.eps");

    [Test]
    public void NormKindThatIsNotOneIsRejected() =>
        InvalidArgument(() => Ops.Norm(X(), null, null, Y(), kind: (NormKind)7), "params.kind");

    [Test]
    public void NormWeightOfAnotherLengthIsRejected() =>
        InvalidArgument(() => Ops.Norm(X(), Tensors.Input(1f, Columns - 1), null, Y()), "weight.shape");

    [Test]
    public void NormBiasOfAnotherLengthIsRejected() =>
        InvalidArgument(() => Ops.Norm(X(), null, Tensors.Input(0f, Columns + 1), Y()), "bias.shape");

    [Test]
    public void RmsNormWithABiasIsRejected() =>
        InvalidArgument(() => Ops.Norm(X(), Tensors.Input(1f, Columns), Tensors.Input(0f, Columns), Y(), NormKind.Rms), "bias");

    [Test]
    public void NormOutputOfAnotherShapeIsRejected() =>
        InvalidArgument(() => Ops.Norm(X(), null, null, Tensors.Output(Poison, Rows - 1, Columns)), "y.shape");

    [Test]
    public void NormIntoPartOfItsInputIsRejected()
    {
        var (x, y) = Shifted();
        InvalidArgument(() => Ops.Norm(x, null, null, y), "y");
    }

    [Test]
    public void NormOutputOverTheWeightIsRejected()
    {
        var buffer = Tensors.Buffer(Rows * Columns, Poison);
        Tensors.Watch(buffer, Poison);
        var weight = new TensorView<float>(buffer, [Columns]);
        InvalidArgument(() => Ops.Norm(X(), weight, null, new TensorView<float>(buffer, [Rows, Columns])), "y");
    }

    [Test]
    public void NormWeightOnAnotherDeviceIsAMismatch()
    {
        using var other = TestDevices.OpenUnderTest();
        DeviceMismatch(() => Ops.Norm(X(), Elsewhere(other, Columns), null, Y()), "weight.buffer");
    }

    [Test]
    public void NormInPlacePassesValidation()
    {
        var x = X();
        Assert.DoesNotThrow(() => Ops.Norm(x, Tensors.Input(1f, Columns), Tensors.Input(0f, Columns), x));
    }

    // ---- gelu

    [Test]
    public void GeluOutputOfAnotherShapeIsRejected() =>
        InvalidArgument(() => Ops.Gelu(X(), Tensors.Output(Poison, Rows, Columns - 1)), "y.shape");

    [Test]
    public void GeluOfRankThreeIsRejected() =>
        InvalidArgument(() => Ops.Gelu(Tensors.Input(0.5f, 1, Rows, Columns), Y()), "x.rank");

    [Test]
    public void GeluIntoPartOfItsInputIsRejected()
    {
        var (x, y) = Shifted();
        InvalidArgument(() => Ops.Gelu(x, y), "y");
    }

    [Test]
    public void GeluOfBytesIsUnsupported() =>
        UnsupportedDType(() => Ops.Gelu(Tensors.Input<byte>(1, Rows, Columns), Tensors.Output(BytePoison, Rows, Columns)), "x.dtype");

    [Test]
    public void GeluInPlacePassesValidation()
    {
        var x = X();
        Assert.DoesNotThrow(() => Ops.Gelu(x, x));
    }

    // ---- rope (x is the output: it is poisoned)

    private TensorView<float> RopeX(long headDim = 8) => Tensors.Output(Poison, 1, 2, 4, headDim);

    [Test]
    public void RopeOfAnOddHeadDimIsRejected() =>
        InvalidArgument(() => Ops.Rope(RopeX(headDim: 7)), "x.shape");

    [Test]
    public void RopeOfRankThreeIsRejected() =>
        InvalidArgument(() => Ops.Rope(Tensors.Output(Poison, 2, 4, 8)), "x.rank");

    [Test]
    public void RopeFromANegativePositionIsRejected() =>
        InvalidArgument(() => Ops.Rope(RopeX(), positionOffset: -1), "params.position_offset");

    [Test]
    public void RopePositionsPastInt64AreRejected() =>
        InvalidArgument(() => Ops.Rope(RopeX(), positionOffset: long.MaxValue - 2), "params.position_offset");

    [TestCase(1f)]
    [TestCase(0.5f)]
    [TestCase(float.NaN)]
    public void RopeBaseNotAboveOneIsRejected(float thetaBase) =>
        InvalidArgument(() => Ops.Rope(RopeX(), thetaBase: thetaBase), "params.base");

    [Test]
    public void RopeConventionThatIsNotOneIsRejected() =>
        InvalidArgument(() => Ops.Rope(RopeX(), convention: (RopeConvention)2), "params.convention");

    [Test]
    public void RopeOverHeadsThatShareAnAddressIsRejected()
    {
        var x = new TensorView<float>(Tensors.Buffer(4 * 8, Poison), [1, 2, 4, 8], [64, 0, 8, 1]);
        Tensors.Watch(x.Buffer, Poison);
        InvalidArgument(() => Ops.Rope(x), "x.strides");
    }

    [Test]
    public void RopeOfBytesIsUnsupported() =>
        UnsupportedDType(() => Ops.Rope(Tensors.Output(BytePoison, 1, 2, 4, 8)), "x.dtype");
}
