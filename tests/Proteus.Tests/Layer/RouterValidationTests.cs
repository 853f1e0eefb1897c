using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>
/// proteus_router rejects every bad argument before writing any output: x [2, 4, 8], G = 6 gates, H = 3
/// heads, with DNA prototypes [6, 8], usage and confidence [6]; outputs probs [2, 4, 6], head_probs [2, 4, 3],
/// salience and importance [2, 4].
/// </summary>
[TestFixture]
public sealed class RouterValidationTests : LayerValidationFixture
{
    private const long B = 2, T = 4, C = 8, G = 6;
    private const int H = 3;

    private static readonly RouterOptions Plain = new() { Heads = H };
    private static readonly RouterOptions WithDna = new() { Heads = H, Dna = true };

    /// <summary>Valid inputs with every output present (salience only with DNA), outputs poisoned.</summary>
    private RouterInputs<float> Inputs(bool dna) => new()
    {
        X = Tensors.Input(0.5f, B, T, C),
        Weight = Tensors.Input(0.1f, G, C),
        Prototypes = dna ? Tensors.Input(0.2f, G, C) : null,
        Usage = dna ? Tensors.Input(0f, G) : null,
        Confidence = dna ? Tensors.Input(0f, G) : null,
        Probs = Tensors.Output(Poison, B, T, G),
        HeadProbs = Tensors.Output(Poison, B, T, H),
        Salience = dna ? Tensors.Output(Poison, B, T) : null,
        Importance = Tensors.Output(Poison, B, T),
    };

    private static RouterInputs<float> With(RouterInputs<float> inputs, TensorView<float>? weight = null, TensorView<float>? probs = null) => new()
    {
        X = inputs.X,
        Weight = weight ?? inputs.Weight,
        Prototypes = inputs.Prototypes,
        Usage = inputs.Usage,
        Confidence = inputs.Confidence,
        Probs = probs ?? inputs.Probs,
        HeadProbs = inputs.HeadProbs,
        Salience = inputs.Salience,
        Importance = inputs.Importance,
    };

    [Test]
    public void MoreHeadsThanGatesAreRejected() =>
        InvalidArgument(() => Ops.Router(Inputs(dna: false), new RouterOptions { Heads = (int)G + 1 }), "params.heads");

    [Test]
    public void WeightOfAnotherWidthIsRejected() =>
        InvalidArgument(() => Ops.Router(With(Inputs(dna: false), weight: Tensors.Input(0.1f, G, C + 1)), Plain), "tensors.weight.shape");

    [TestCase(B, T, G + 1)]
    [TestCase(B, T + 1, G)]
    [TestCase(B + 1, T, G)]
    public void ProbabilitiesOfAnotherShapeAreRejected(long batch, long seqLen, long gates) =>
        InvalidArgument(() => Ops.Router(With(Inputs(dna: false), probs: Tensors.Output(Poison, batch, seqLen, gates)), Plain), "tensors.probs.shape");

    [Test]
    public void HeadProbabilitiesOfAnotherHeadCountAreRejected()
    {
        var inputs = Inputs(dna: false);
        var bad = new RouterInputs<float> { X = inputs.X, Weight = inputs.Weight, Probs = inputs.Probs, HeadProbs = Tensors.Output(Poison, B, T, H + 1) };
        InvalidArgument(() => Ops.Router(bad, Plain), "tensors.head_probs.shape");
    }

    [Test]
    public void ImportanceOfAnotherBatchIsRejected()
    {
        var inputs = Inputs(dna: false);
        var bad = new RouterInputs<float> { X = inputs.X, Weight = inputs.Weight, Probs = inputs.Probs, Importance = Tensors.Output(Poison, B + 1, T) };
        InvalidArgument(() => Ops.Router(bad, Plain), "tensors.importance.shape");
    }

    [Test]
    public void DnaWithoutPrototypesIsRejected()
    {
        var inputs = Inputs(dna: true);
        var bad = new RouterInputs<float> { X = inputs.X, Weight = inputs.Weight, Usage = inputs.Usage, Confidence = inputs.Confidence, Probs = inputs.Probs };
        InvalidArgument(() => Ops.Router(bad, WithDna), "tensors.prototypes");
    }

    [Test]
    public void DnaUsageOfAnotherGateCountIsRejected()
    {
        var inputs = Inputs(dna: true);
        var bad = new RouterInputs<float> { X = inputs.X, Weight = inputs.Weight, Prototypes = inputs.Prototypes, Usage = Tensors.Input(0f, G - 1), Confidence = inputs.Confidence, Probs = inputs.Probs };
        InvalidArgument(() => Ops.Router(bad, WithDna), "tensors.usage.shape");
    }

    [Test]
    public void DnaPrototypesOfAnotherWidthAreRejected()
    {
        var inputs = Inputs(dna: true);
        var bad = new RouterInputs<float> { X = inputs.X, Weight = inputs.Weight, Prototypes = Tensors.Input(0.2f, G, C - 1), Usage = inputs.Usage, Confidence = inputs.Confidence, Probs = inputs.Probs };
        InvalidArgument(() => Ops.Router(bad, WithDna), "tensors.prototypes.shape");
    }

    [Test]
    public void SalienceWithoutDnaIsRejected()
    {
        var inputs = Inputs(dna: false);
        var bad = new RouterInputs<float> { X = inputs.X, Weight = inputs.Weight, Probs = inputs.Probs, Salience = Tensors.Output(Poison, B, T) };
        InvalidArgument(() => Ops.Router(bad, Plain), "tensors.salience");
    }

    [Test]
    public void ProbabilitiesOverTheImportanceAreRejected()
    {
        var inputs = Inputs(dna: false);
        var probs = Tensors.Output(Poison, B, T, G);
        var importance = new TensorView<float>(probs.Buffer, [B, T]);  // the first B·T probabilities
        var bad = new RouterInputs<float> { X = inputs.X, Weight = inputs.Weight, Probs = probs, Importance = importance };
        InvalidArgument(() => Ops.Router(bad, Plain), "tensors.probs");
    }

    [Test]
    public void ProbabilitiesOverTheInputAreRejected()
    {
        var buffer = Tensors.Buffer(B * T * C, Poison);
        Tensors.Watch(buffer, Poison);
        var bad = new RouterInputs<float>
        {
            X = new TensorView<float>(buffer, [B, T, C]),
            Weight = Tensors.Input(0.1f, G, C),
            Probs = new TensorView<float>(buffer, [B, T, G], [T * C, C, 1]),
        };
        InvalidArgument(() => Ops.Router(bad, Plain), "tensors.probs");
    }

    [Test]
    public void ByteInputIsUnsupported()
    {
        var inputs = Inputs(dna: false);
        var bytes = new RouterInputs<byte> { X = Tensors.Input<byte>(1, B, T, C), Weight = inputs.Weight, Probs = inputs.Probs };
        UnsupportedDType(() => Ops.Router(bytes, Plain), "tensors.x.dtype");
    }

    [Test]
    public void ProbabilitiesOnAnotherDeviceAreAMismatch()
    {
        using var other = TestDevices.OpenUnderTest();
        var inputs = Inputs(dna: false);
        DeviceMismatch(() => Ops.Router(With(inputs, probs: Elsewhere(other, B, T, G)), Plain), "tensors.probs.buffer");
    }

    [Test]
    public void ValidCallsPassValidation()
    {
        Assert.DoesNotThrow(() => Ops.Router(Inputs(dna: false), Plain));
        Assert.DoesNotThrow(() => Ops.Router(Inputs(dna: true), WithDna with { UsageBoost = 0.5f }));
    }

    [TestCase(nameof(RouterOptions.Heads))]
    [TestCase(nameof(RouterOptions.Tau))]
    [TestCase(nameof(RouterOptions.Theta))]
    [TestCase(nameof(RouterOptions.Blend))]
    [TestCase(nameof(RouterOptions.UsageBoost))]
    public void OptionsOutOfRangeAreRejectedWhenSet(string option)
    {
        Action set = option switch
        {
            nameof(RouterOptions.Heads) => () => _ = new RouterOptions { Heads = 0 },
            nameof(RouterOptions.Tau) => () => _ = Plain with { Tau = 0f },
            nameof(RouterOptions.Theta) => () => _ = Plain with { Theta = 1f },
            nameof(RouterOptions.Blend) => () => _ = Plain with { Blend = 1.5f },
            _ => () => _ = Plain with { UsageBoost = -1f },
        };
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(set).ParamName, Is.EqualTo(option));
    }
}
