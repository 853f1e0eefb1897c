using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>proteus_linear rejects every bad argument before writing y: x [3, 8], weight [6, 8], bias [6], y [3, 6].</summary>
[TestFixture]
public sealed class LinearValidationTests : LayerValidationFixture
{
    private const long M = 3, N = 6, K = 8;

    private TensorView<float> X() => Tensors.Input(0.5f, M, K);

    private TensorView<float> Weight() => Tensors.Input(0.25f, N, K);

    private TensorView<float> Y() => Tensors.Output(Poison, M, N);

    [Test]
    public void WeightOfAnotherInnerExtentIsRejected() =>
        InvalidArgument(() => Ops.Linear(X(), Tensors.Input(0.25f, N, K + 1), Y()), "weight.shape");

    [TestCase(M + 1, N)]
    [TestCase(M, N - 1)]
    public void OutputOfAnotherShapeIsRejected(long rows, long columns) =>
        InvalidArgument(() => Ops.Linear(X(), Weight(), Tensors.Output(Poison, rows, columns)), "y.shape");

    [Test]
    public void BiasOfAnotherLengthIsRejected() =>
        InvalidArgument(() => Ops.Linear(X(), Weight(), Tensors.Input(0f, N + 1), Y()), "bias.shape");

    [Test]
    public void BiasOfAByteDTypeIsUnsupported() =>
        UnsupportedDType(() => Ops.Linear(X(), Weight(), Tensors.Input<byte>(0, N), Y()), "bias.dtype");

    [Test]
    public void ByteStorageIsUnsupported() =>
        UnsupportedDType(() => Ops.Linear(Tensors.Input<byte>(1, M, K), Tensors.Input<byte>(1, N, K), Tensors.Output(BytePoison, M, N)), "x.dtype");

    [Test]
    public void InputOfRankThreeIsRejected() =>
        InvalidArgument(() => Ops.Linear(Tensors.Input(0.5f, 1, M, K), Weight(), Y()), "x.rank");

    [Test]
    public void InnermostStrideOtherThanOneIsRejected()
    {
        var strided = new TensorView<float>(Tensors.Buffer(M * K * 2, 0.5f), [M, K], [2 * K, 2]);
        InvalidArgument(() => Ops.Linear(strided, Weight(), Y()), "x.strides");
    }

    [Test]
    public void InputReachingPastItsBufferIsRejected()
    {
        var shifted = new TensorView<float>(Tensors.Buffer(M * K, 0.5f), [M, K], offset: 1);
        InvalidArgument(() => Ops.Linear(shifted, Weight(), Y()), "x");
    }

    [Test]
    public void OutputOverlappingTheInputIsRejected()
    {
        // y [3, 6] over the first 18 elements of x's buffer: a GEMM cannot run in place.
        var buffer = Tensors.Buffer(M * K, Poison);
        Tensors.Watch(buffer, Poison);
        var x = new TensorView<float>(buffer, [M, K]);
        var y = new TensorView<float>(buffer, [M, N], [N, 1]);
        InvalidArgument(() => Ops.Linear(x, Weight(), y), "y");
    }

    [Test]
    public void OutputWhoseRowsShareAnAddressIsRejected()
    {
        var y = new TensorView<float>(Tensors.Buffer(N, Poison), [M, N], [0, 1]);
        Tensors.Watch(y.Buffer, Poison);
        InvalidArgument(() => Ops.Linear(X(), Weight(), y), "y.strides");
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    public void AccumulateFactorThatIsNotFiniteIsRejected(float beta) =>
        InvalidArgument(() => Ops.Linear(X(), Weight(), Y(), accumulate: beta), "params.beta");

    [Test]
    public void WeightOnAnotherDeviceIsAMismatch()
    {
        using var other = TestDevices.OpenUnderTest();
        DeviceMismatch(() => Ops.Linear(X(), Elsewhere(other, N, K), Y()), "weight.buffer");
    }
}
