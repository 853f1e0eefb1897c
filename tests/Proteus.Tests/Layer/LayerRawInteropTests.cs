using Proteus.Interop;
using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>
/// The layer operations' checks that the typed managed API cannot reach, through the generated bindings:
/// NULL and wrongly sized structs, mixed dtypes, raw parameter values, dead handles. Each is a status with
/// the offending argument in proteus_last_error_info, never a crash.
/// </summary>
[TestFixture]
public sealed unsafe class LayerRawInteropTests : RawContextFixture
{
    /// <summary>A contiguous tensor of <paramref name="dtype"/> on a new zeroed buffer.</summary>
    private ProteusTensor Tensor(ProteusDtype dtype, params long[] shape)
    {
        int size = dtype switch { ProteusDtype.Float32 => 4, ProteusDtype.Uint8 => 1, _ => 2 };
        long count = shape.Aggregate(1L, (a, e) => a * e);
        var buffer = Buffer((ulong)(count * size));
        byte zero = 0;
        Assert.That(NativeMethods.proteus_buffer_fill(buffer, 0, (ulong)(count * size), &zero, 1), Is.EqualTo(ProteusStatus.Ok));
        var tensor = new ProteusTensor { Buffer = buffer.DangerousGetHandle(), Dtype = (int)dtype, Rank = shape.Length };
        long stride = 1;
        for (int axis = NativeConstants.MaxRank - 1; axis >= 0; axis--)
        {
            tensor.Shape[axis] = axis < shape.Length ? shape[axis] : 1;
            tensor.Strides[axis] = axis < shape.Length ? stride : 0;
            stride *= axis < shape.Length ? shape[axis] : 1;
        }
        return tensor;
    }

    private ProteusTensor Float(params long[] shape) => Tensor(ProteusDtype.Float32, shape);

    /// <summary>The status of the call and, when it failed, the argument the library named.</summary>
    private static (ProteusStatus Status, string Argument) Outcome(ProteusStatus status)
    {
        if (status == ProteusStatus.Ok)
        {
            return (status, "");
        }
        var info = new ProteusErrorInfo { StructSize = (uint)sizeof(ProteusErrorInfo) };
        Assert.That(NativeMethods.proteus_last_error_info(&info), Is.EqualTo(ProteusStatus.Ok));
        return (status, System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)info.Argument) ?? "");
    }

    private static void Expect(ProteusStatus status, ProteusStatus expected, string argument) =>
        Assert.That(Outcome(status), Is.EqualTo((expected, argument)));

    private static ProteusLinearParams LinearParams() => new() { StructSize = (uint)sizeof(ProteusLinearParams) };

    private static ProteusNormParams NormParams() => new() { StructSize = (uint)sizeof(ProteusNormParams), Eps = 1e-5f };

    private static ProteusRopeParams RopeParams() => new() { StructSize = (uint)sizeof(ProteusRopeParams), Base = 10000f };

    private static ProteusRouterParams RouterParams(int dna = 0) => new()
    {
        StructSize = (uint)sizeof(ProteusRouterParams), Heads = 2, Dna = dna, Tau = 0.2f, Theta = 0.25f, Blend = 0.6f,
    };

    private static ProteusSelectParams SelectParams() => new() { StructSize = (uint)sizeof(ProteusSelectParams), HeadsPerToken = 1, KeepRatio = 1, Guard = 1 };

    private static ProteusDnaUpdateParams DnaParams() => new() { StructSize = (uint)sizeof(ProteusDnaUpdateParams), Decay = 0.97f };

    // ---- linear: x [3, 8], weight [6, 8], y [3, 6]

    private ProteusStatus Linear(ProteusLinearParams* parameters, ProteusDtype weightDtype = ProteusDtype.Float32)
    {
        ProteusTensor x = Float(3, 8), weight = Tensor(weightDtype, 6, 8), y = Float(3, 6);
        return NativeMethods.proteus_linear(context, &x, &weight, null, &y, parameters);
    }

    [Test]
    public void LinearWithoutParametersIsRejected() => Expect(Linear(null), ProteusStatus.InvalidArgument, "params");

    [TestCase(-1)]
    [TestCase(8)]
    public void LinearParametersOfAnUnknownSizeAreRejected(int sizeChange)
    {
        var parameters = LinearParams();
        parameters.StructSize = (uint)(sizeChange < 0 ? NativeConstants.LinearParamsSizeV02 + sizeChange : sizeof(ProteusLinearParams) + sizeChange);
        Expect(Linear(&parameters), ProteusStatus.InvalidArgument, "params.struct_size");
    }

    [Test]
    public void LinearFlagsThatAreNotLinearFlagsAreRejected()
    {
        var parameters = LinearParams();
        parameters.Flags = 2;
        Expect(Linear(&parameters), ProteusStatus.InvalidArgument, "params.flags");
    }

    [Test]
    public void LinearOfMixedDTypesIsRejected()
    {
        var parameters = LinearParams();
        Expect(Linear(&parameters, ProteusDtype.Float16), ProteusStatus.InvalidArgument, "weight.dtype");
    }

    [Test]
    public void LinearWithoutAnInputIsRejected()
    {
        var parameters = LinearParams();
        ProteusTensor weight = Float(6, 8), y = Float(3, 6), absent = default;
        Expect(NativeMethods.proteus_linear(context, null, &weight, null, &y, &parameters), ProteusStatus.InvalidArgument, "x");
        Expect(NativeMethods.proteus_linear(context, &absent, &weight, null, &y, &parameters), ProteusStatus.InvalidArgument, "x");
    }

    [Test]
    public void LinearOverADestroyedBufferIsAnInvalidHandle()
    {
        var parameters = LinearParams();
        ProteusTensor x = Float(3, 8), weight = Float(6, 8), y = Float(3, 6);
        buffers[^1].Dispose(); // y's
        Expect(NativeMethods.proteus_linear(context, &x, &weight, null, &y, &parameters), ProteusStatus.InvalidHandle, "y.buffer");
    }

    // ---- convert, norm, gelu, rope

    [TestCase(0)]
    [TestCase(5)]
    public void ConvertOfARankOutsideOneToFourIsRejected(int rank)
    {
        ProteusTensor x = Float(4, 8), y = Float(4, 8);
        x.Rank = rank;
        Expect(NativeMethods.proteus_convert(context, &x, &y), ProteusStatus.InvalidArgument, "x.rank");
    }

    [Test]
    public void NormWithoutParametersIsRejected()
    {
        ProteusTensor x = Float(4, 8), y = Float(4, 8);
        Expect(NativeMethods.proteus_norm(context, &x, null, null, &y, null), ProteusStatus.InvalidArgument, "params");
    }

    [Test]
    public void NormOfMixedDTypesIsRejected()
    {
        var parameters = NormParams();
        ProteusTensor x = Float(4, 8), y = Tensor(ProteusDtype.Bfloat16, 4, 8);
        Expect(NativeMethods.proteus_norm(context, &x, null, null, &y, &parameters), ProteusStatus.InvalidArgument, "y.dtype");
    }

    [Test]
    public void NormWeightOfAStorageDTypeIsUnsupported()
    {
        var parameters = NormParams();
        ProteusTensor x = Float(4, 8), weight = Tensor(ProteusDtype.Float16, 8), y = Float(4, 8);
        Expect(NativeMethods.proteus_norm(context, &x, &weight, null, &y, &parameters), ProteusStatus.UnsupportedDtype, "weight.dtype");
    }

    [Test]
    public void GeluOfMixedDTypesIsRejected()
    {
        ProteusTensor x = Tensor(ProteusDtype.Float16, 4, 8), y = Float(4, 8);
        Expect(NativeMethods.proteus_gelu(context, &x, &y), ProteusStatus.InvalidArgument, "y.dtype");
    }

    [Test]
    public void RopeParametersOfTheWrongSizeAreRejected()
    {
        var parameters = RopeParams();
        parameters.StructSize = NativeConstants.RopeParamsSizeV02 - 8;
        ProteusTensor x = Float(1, 2, 4, 8);
        Expect(NativeMethods.proteus_rope(context, &x, &parameters), ProteusStatus.InvalidArgument, "params.struct_size");
        Expect(NativeMethods.proteus_rope(context, &x, null), ProteusStatus.InvalidArgument, "params");
    }

    // ---- router: x [1, 4, 8], weight [4, 8], probs [1, 4, 4]; DNA prototypes [4, 8], usage, confidence [4]

    private ProteusRouterTensors RouterTensors() => new()
    {
        StructSize = (uint)sizeof(ProteusRouterTensors),
        X = Float(1, 4, 8),
        Weight = Float(4, 8),
        Prototypes = Float(4, 8),
        Usage = Float(4),
        Confidence = Float(4),
        Probs = Float(1, 4, 4),
    };

    [Test]
    public void RouterWithoutItsStructsIsRejected()
    {
        var tensors = RouterTensors();
        var parameters = RouterParams();
        Expect(NativeMethods.proteus_router(context, null, &parameters), ProteusStatus.InvalidArgument, "tensors");
        Expect(NativeMethods.proteus_router(context, &tensors, null), ProteusStatus.InvalidArgument, "params");
        tensors.StructSize = NativeConstants.RouterTensorsSizeV02 - 88;
        Expect(NativeMethods.proteus_router(context, &tensors, &parameters), ProteusStatus.InvalidArgument, "tensors.struct_size");
    }

    [Test]
    public void RouterWithoutProbabilitiesIsRejected()
    {
        var tensors = RouterTensors();
        tensors.Probs = default;
        var parameters = RouterParams();
        Expect(NativeMethods.proteus_router(context, &tensors, &parameters), ProteusStatus.InvalidArgument, "tensors.probs");
    }

    [Test]
    public void RouterWeightOfAStorageDTypeIsUnsupported()
    {
        var tensors = RouterTensors();
        tensors.Weight = Tensor(ProteusDtype.Bfloat16, 4, 8);
        var parameters = RouterParams();
        Expect(NativeMethods.proteus_router(context, &tensors, &parameters), ProteusStatus.UnsupportedDtype, "tensors.weight.dtype");
    }

    private static IEnumerable<TestCaseData> BadRouterParameters()
    {
        TestCaseData Case(string argument, Func<ProteusRouterParams, ProteusRouterParams> change) =>
            new TestCaseData(argument, change).SetArgDisplayNames(argument);
        yield return Case("params.heads", p => p with { Heads = 0 });
        yield return Case("params.dna", p => p with { Dna = 2 });
        yield return Case("params.tau", p => p with { Dna = 1, Tau = 0f });
        yield return Case("params.tau", p => p with { Dna = 1, Tau = float.NaN });
        yield return Case("params.theta", p => p with { Dna = 1, Theta = 1f });
        yield return Case("params.theta", p => p with { Dna = 1, Theta = -0.1f });
        yield return Case("params.blend", p => p with { Dna = 1, Blend = 1.01f });
        yield return Case("params.usage_boost", p => p with { Dna = 1, UsageBoost = -1f });
        yield return Case("params.usage_boost", p => p with { Dna = 1, UsageBoost = float.PositiveInfinity });
    }

    [TestCaseSource(nameof(BadRouterParameters))]
    public void RouterParametersOutOfRangeAreRejected(string argument, Func<ProteusRouterParams, ProteusRouterParams> change)
    {
        var tensors = RouterTensors();
        var parameters = change(RouterParams());
        Expect(NativeMethods.proteus_router(context, &tensors, &parameters), ProteusStatus.InvalidArgument, argument);
    }

    [Test]
    public void RouterIgnoresTheDnaOptionsWithoutDna()
    {
        var tensors = RouterTensors();
        var parameters = RouterParams() with { Tau = 0f, Theta = 7f, Blend = -1f, UsageBoost = float.NaN };
        Expect(NativeMethods.proteus_router(context, &tensors, &parameters), ProteusStatus.Ok, "");
    }

    // ---- select_rows and dna_update

    [Test]
    public void SelectionIntoAFloatMaskIsUnsupported()
    {
        var parameters = SelectParams();
        ProteusTensor headProbs = Float(1, 4, 2), importance = Float(1, 4), active = Float(1, 2, 4);
        Expect(NativeMethods.proteus_select_rows(context, &headProbs, &importance, &active, &parameters), ProteusStatus.UnsupportedDtype, "active.dtype");
        Expect(NativeMethods.proteus_select_rows(context, &headProbs, &importance, &active, null), ProteusStatus.InvalidArgument, "params");
    }

    [Test]
    public void DnaUpdateParametersOfTheWrongSizeAreRejected()
    {
        var parameters = DnaParams();
        parameters.StructSize = 4;
        ProteusTensor x = Float(1, 4, 8), probs = Float(1, 4, 3), prototypes = Float(3, 8), usage = Float(3), confidence = Float(3);
        Expect(NativeMethods.proteus_dna_update(context, &x, &probs, &prototypes, &usage, &confidence, &parameters), ProteusStatus.InvalidArgument, "params.struct_size");
        Expect(NativeMethods.proteus_dna_update(context, &x, &probs, &prototypes, &usage, &confidence, null), ProteusStatus.InvalidArgument, "params");
    }
}
