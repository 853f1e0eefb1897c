using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>
/// proteus_select_rows (head_probs [2, 5, 4], importance [2, 5], active [2, 4, 5]) and proteus_dna_update
/// (x [2, 5, 8], probs [2, 5, 3], prototypes [3, 8], usage and confidence [3]) reject every bad argument
/// before writing anything.
/// </summary>
[TestFixture]
public sealed class SelectionAndDnaValidationTests : LayerValidationFixture
{
    private const long B = 2, T = 5, H = 4, C = 8, G = 3;

    // ---- select_rows

    private TensorView<float> HeadProbs() => Tensors.Input(0.25f, B, T, H);

    private TensorView<float> Importance() => Tensors.Input(0.5f, B, T);

    private TensorView<byte> Active() => Tensors.Output(BytePoison, B, H, T);

    [TestCase(0)]
    [TestCase(-1)]
    [TestCase((int)H + 1)]
    public void HeadsPerTokenOutsideOneToHIsRejected(int headsPerToken) =>
        InvalidArgument(() => Ops.SelectRows(HeadProbs(), Importance(), Active(), headsPerToken), "params.heads_per_token");

    [TestCase(0.0)]
    [TestCase(-0.5)]
    [TestCase(1.0000001)]
    [TestCase(double.NaN)]
    public void KeepRatioOutsideZeroToOneIsRejected(double keepRatio) =>
        InvalidArgument(() => Ops.SelectRows(HeadProbs(), Importance(), Active(), 2, keepRatio), "params.keep_ratio");

    [TestCase(0L)]
    [TestCase(-3L)]
    public void GuardBelowOneIsRejected(long guard) =>
        InvalidArgument(() => Ops.SelectRows(HeadProbs(), Importance(), Active(), 2, 0.5, guard), "params.guard");

    [Test]
    public void ImportanceOfAnotherLengthIsRejected() =>
        InvalidArgument(() => Ops.SelectRows(HeadProbs(), Tensors.Input(0.5f, B, T + 1), Active(), 2), "importance.shape");

    [Test]
    public void ActiveInTokenMajorOrderIsRejected() =>
        InvalidArgument(() => Ops.SelectRows(HeadProbs(), Importance(), Tensors.Output(BytePoison, B, T, H), 2), "active.shape");

    [Test]
    public void ActiveWhoseHeadsShareAnAddressIsRejected()
    {
        var active = new TensorView<byte>(Tensors.Buffer(B * T, BytePoison), [B, H, T], [T, 0, 1]);
        Tensors.Watch(active.Buffer, BytePoison);
        InvalidArgument(() => Ops.SelectRows(HeadProbs(), Importance(), active, 2), "active.strides");
    }

    [Test]
    public void ImportanceOnAnotherDeviceIsAMismatch()
    {
        using var other = TestDevices.OpenUnderTest();
        DeviceMismatch(() => Ops.SelectRows(HeadProbs(), Elsewhere(other, B, T), Active(), 2), "importance.buffer");
    }

    [TestCase(1.0, 1L)]
    [TestCase(0.5, 1L)]
    [TestCase(0.01, 1L)]
    [TestCase(0.2, 99L)]
    public void ValidSelectionsPassValidation(double keepRatio, long guard) =>
        Assert.DoesNotThrow(() => Ops.SelectRows(HeadProbs(), Importance(), Active(), (int)H, keepRatio, guard));

    // ---- dna_update (prototypes, usage and confidence are updated in place: they are the outputs)

    private TensorView<float> X() => Tensors.Input(0.5f, B, T, C);

    private TensorView<float> Probs() => Tensors.Input(1f / G, B, T, G);

    private TensorView<float> Prototypes() => Tensors.Output(Poison, G, C);

    private TensorView<float> State() => Tensors.Output(Poison, G);

    [TestCase(1f)]
    [TestCase(-0.1f)]
    [TestCase(float.NaN)]
    public void DecayOutsideZeroToOneIsRejected(float decay) =>
        InvalidArgument(() => Ops.DnaUpdate(X(), Probs(), Prototypes(), State(), State(), decay), "params.decay");

    [Test]
    public void ProbabilitiesOfAnotherLengthAreRejected() =>
        InvalidArgument(() => Ops.DnaUpdate(X(), Tensors.Input(0.5f, B, T - 1, G), Prototypes(), State(), State()), "probs.shape");

    [Test]
    public void PrototypesOfAnotherWidthAreRejected() =>
        InvalidArgument(() => Ops.DnaUpdate(X(), Probs(), Tensors.Output(Poison, G, C + 1), State(), State()), "prototypes.shape");

    [Test]
    public void PrototypesOfAnotherGateCountAreRejected() =>
        InvalidArgument(() => Ops.DnaUpdate(X(), Probs(), Tensors.Output(Poison, G + 1, C), State(), State()), "prototypes.shape");

    [Test]
    public void ConfidenceOfAnotherGateCountIsRejected() =>
        InvalidArgument(() => Ops.DnaUpdate(X(), Probs(), Prototypes(), State(), Tensors.Output(Poison, G - 1)), "confidence.shape");

    [Test]
    public void UsageThatIsTheConfidenceIsRejected()
    {
        var state = State();
        InvalidArgument(() => Ops.DnaUpdate(X(), Probs(), Prototypes(), state, state), "usage");
    }

    [Test]
    public void ByteInputIsUnsupported() =>
        UnsupportedDType(() => Ops.DnaUpdate(Tensors.Input<byte>(1, B, T, C), Probs(), Prototypes(), State(), State()), "x.dtype");

    [Test]
    public void ValidUpdatePassesValidation() =>
        Assert.DoesNotThrow(() => Ops.DnaUpdate(X(), Probs(), Tensors.Input(0.1f, G, C), Tensors.Input(0f, G), Tensors.Input(0f, G)));
}
