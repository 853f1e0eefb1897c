using System.Runtime.InteropServices;
using Proteus.Interop;
using Proteus.Tests.Support;

namespace Proteus.Tests.Errors;

/// <summary>
/// The C ABI's own checks, through the generated bindings: what the typed managed API cannot express
/// (mixed dtypes, wrong mask dtypes, raw budgets, destroyed handles) is still rejected with a status,
/// never a crash, and the context keeps working.
/// </summary>
[TestFixture]
public sealed unsafe class RawInteropTests : RawContextFixture
{
    private const long Heads = 2, KvHeads = 1, SeqLen = 8, HeadDim = 16;

    /// <summary>A contiguous tensor of <paramref name="dtype"/> on a new buffer filled with 0.5 (or 1 for uint8).</summary>
    private ProteusTensor Tensor(ProteusDtype dtype, params long[] shape)
    {
        int size = dtype switch { ProteusDtype.Float32 => 4, ProteusDtype.Uint8 => 1, _ => 2 };
        long count = shape.Aggregate(1L, (a, e) => a * e);
        var buffer = Buffer((ulong)(count * size));
        ulong pattern = dtype switch
        {
            ProteusDtype.Float32 => BitConverter.SingleToUInt32Bits(0.5f),
            ProteusDtype.Float16 => BitConverter.HalfToUInt16Bits((Half)0.5f),
            ProteusDtype.Bfloat16 => 0x3F00,
            _ => 1,
        };
        Assert.That(NativeMethods.proteus_buffer_fill(buffer, 0, (ulong)(count * size), &pattern, (uint)size), Is.EqualTo(ProteusStatus.Ok));
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

    private ProteusFluxTensors Valid(ProteusDtype dtype = ProteusDtype.Float32) => new()
    {
        StructSize = (uint)sizeof(ProteusFluxTensors),
        Q = Tensor(dtype, 1, Heads, SeqLen, HeadDim),
        K = Tensor(dtype, 1, KvHeads, SeqLen, HeadDim),
        V = Tensor(dtype, 1, KvHeads, SeqLen, HeadDim),
        O = Tensor(dtype, 1, Heads, SeqLen, HeadDim),
    };

    private static ProteusFluxParams Dense() => new()
    {
        StructSize = (uint)sizeof(ProteusFluxParams),
        Policy = (int)ProteusCandidatePolicy.Aligned,
        Window = long.MaxValue / 4,
        UseDefaultScale = 1,
    };

    private ProteusStatus Flux(ProteusFluxTensors tensors, ProteusFluxParams parameters, ProteusLaunchConfig? launch = null)
    {
        if (launch is { } config)
        {
            return NativeMethods.proteus_flux_attention_v2(context, &tensors, &parameters, &config, null);
        }
        return NativeMethods.proteus_flux_attention_v2(context, &tensors, &parameters, null, null);
    }

    private static (ProteusStatus Status, string Argument, string Message) LastError()
    {
        var info = new ProteusErrorInfo { StructSize = (uint)sizeof(ProteusErrorInfo) };
        Assert.That(NativeMethods.proteus_last_error_info(&info), Is.EqualTo(ProteusStatus.Ok));
        string argument = Marshal.PtrToStringUTF8((nint)info.Argument) ?? "";
        string message = Marshal.PtrToStringUTF8((nint)NativeMethods.proteus_last_error_message()) ?? "";
        return ((ProteusStatus)info.Status, argument, message);
    }

    /// <summary>The call returned <paramref name="status"/> naming <paramref name="argument"/>, and a valid call then succeeds.</summary>
    private void AssertRejected(ProteusStatus actual, ProteusStatus status, string argument)
    {
        var error = LastError();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(actual, Is.EqualTo(status));
            Assert.That(error.Status, Is.EqualTo(status), "proteus_last_error_info status");
            Assert.That(error.Argument, Is.EqualTo(argument), "proteus_last_error_info argument");
            Assert.That(error.Message, Does.Contain(argument));
        }
        Assert.That(Flux(Valid(), Dense()), Is.EqualTo(ProteusStatus.Ok), "a valid call after the rejected one");
        Assert.That(NativeMethods.proteus_context_synchronize(context), Is.EqualTo(ProteusStatus.Ok));
    }

    /// <summary>o of <paramref name="tensors"/> (float32), after the context's work is done.</summary>
    private float[] Output(ProteusFluxTensors tensors)
    {
        Assert.That(NativeMethods.proteus_context_synchronize(context), Is.EqualTo(ProteusStatus.Ok));
        var output = new float[Heads * SeqLen * HeadDim];
        fixed (float* pointer = output)
        {
            var o = buffers.Single(buffer => buffer.DangerousGetHandle() == tensors.O.Buffer);
            Assert.That(NativeMethods.proteus_buffer_download(o, 0, pointer, (ulong)output.Length * 4), Is.EqualTo(ProteusStatus.Ok));
        }
        return output;
    }

    [Test]
    public void ValidCallSucceedsAndComputesTheUniformAverage()
    {
        var tensors = Valid();
        Assert.That(Flux(tensors, Dense()), Is.EqualTo(ProteusStatus.Ok));
        Assert.That(Output(tensors), Is.All.EqualTo(0.5f), "every value is 0.5, so every softmax average is 0.5");
    }

    [TestCase(ProteusDtype.Float16, "k")]
    [TestCase(ProteusDtype.Bfloat16, "v")]
    [TestCase(ProteusDtype.Float16, "o")]
    public void MixedStorageDTypesAreRejected(ProteusDtype other, string tensor)
    {
        var tensors = Valid();
        var odd = Tensor(other, 1, tensor == "o" ? Heads : KvHeads, SeqLen, HeadDim);
        switch (tensor)
        {
            case "k": tensors.K = odd; break;
            case "v": tensors.V = odd; break;
            default: tensors.O = odd; break;
        }
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, tensor + ".dtype");
    }

    [Test]
    public void ActiveMaskThatIsNotUInt8IsAnUnsupportedDType()
    {
        var tensors = Valid();
        tensors.Active = Tensor(ProteusDtype.Float32, 1, Heads, SeqLen);
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.UnsupportedDtype, "active.dtype");
    }

    [Test]
    public void SalienceThatIsNotFloat32IsAnUnsupportedDType()
    {
        var tensors = Valid();
        tensors.Salience = Tensor(ProteusDtype.Float16, 1, SeqLen);
        var parameters = Dense();
        parameters.Window = 2;
        parameters.DnaCount = 1;
        AssertRejected(Flux(tensors, parameters), ProteusStatus.UnsupportedDtype, "salience.dtype");
    }

    [Test]
    public void LseThatIsNotFloat32IsAnUnsupportedDType()
    {
        var tensors = Valid();
        tensors.Lse = Tensor(ProteusDtype.Bfloat16, 1, Heads, SeqLen);
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.UnsupportedDtype, "lse.dtype");
    }

    [Test]
    public void MissingQueryIsRejected()
    {
        var tensors = Valid();
        tensors.Q = default;
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, "q");
    }

    [Test]
    public void UnalignedByteOffsetIsRejected()
    {
        var tensors = Valid();
        tensors.K.OffsetBytes = 2;
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, "k.offset_bytes");
    }

    [Test]
    public void NegativeStrideIsRejected()
    {
        var tensors = Valid();
        tensors.V.Strides[1] = -1;
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, "v.strides");
    }

    [TestCase(8u)]
    [TestCase(631u)]
    [TestCase(4096u)]
    public void TensorsOfAnUnknownStructSizeAreRejected(uint structSize)
    {
        var tensors = Valid();
        tensors.StructSize = structSize;
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, "tensors.struct_size");
    }

    [TestCase(-1L)]
    [TestCase(1L)]
    [TestCase(long.MaxValue)]
    public void QueryOffsetOutsideTheKeysIsRejected(long queryOffset)
    {
        // q has all T rows, so only p0 = 0 fits.
        var tensors = Valid();
        tensors.Flags = (uint)ProteusFluxTensorFlags.QueryOffset;
        tensors.QueryOffset = queryOffset;
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, "tensors.query_offset");
    }

    [TestCase(ProteusFluxTensorFlags.ActiveSparse)]
    [TestCase(ProteusFluxTensorFlags.ActiveDense)]
    public void ADensityHintWithoutAnActiveMaskIsRejected(ProteusFluxTensorFlags hint)
    {
        var tensors = Valid();
        tensors.Flags = (uint)hint;
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, "tensors.flags");
        Assert.That(LastError().Message, Does.Contain("absent"));
    }

    [Test]
    public void BothDensityHintsAreRejected()
    {
        var tensors = Valid();
        tensors.Active = Tensor(ProteusDtype.Uint8, 1, Heads, SeqLen);
        tensors.Flags = (uint)(ProteusFluxTensorFlags.ActiveSparse | ProteusFluxTensorFlags.ActiveDense);
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, "tensors.flags");
    }

    [Test]
    public void AnUnknownFlagBitIsRejected()
    {
        var tensors = Valid();
        tensors.Flags = 8;
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidArgument, "tensors.flags");
    }

    [TestCase(0u)]
    [TestCase((uint)ProteusFluxTensorFlags.ActiveSparse)]
    [TestCase((uint)ProteusFluxTensorFlags.ActiveDense)]
    public void ADensityHintLeavesTheOutputAsItIs(uint flags)
    {
        // Every row active (the mask is all ones): each hint is "wrong" for one of them and changes nothing.
        var tensors = Valid();
        tensors.Active = Tensor(ProteusDtype.Uint8, 1, Heads, SeqLen);
        tensors.Flags = flags;
        Assert.That(Flux(tensors, Dense()), Is.EqualTo(ProteusStatus.Ok));
        Assert.That(Output(tensors), Is.All.EqualTo(0.5f), "every value is 0.5, so every softmax average is 0.5");
    }

    [Test]
    public void QueryOffsetIsIgnoredWithoutItsFlag()
    {
        var tensors = Valid();
        tensors.QueryOffset = 5;
        Assert.That(Flux(tensors, Dense()), Is.EqualTo(ProteusStatus.Ok), "p0 = T − Tq = 0 without the flag");
    }

    [Test]
    public void TheZeroPointOneEntryPointRunsTheSameCall()
    {
        var tensors = Valid();
        var old = new ProteusFluxTensorsV01
        {
            Q = tensors.Q, K = tensors.K, V = tensors.V, O = tensors.O, Active = tensors.Active, Salience = tensors.Salience, Lse = tensors.Lse,
        };
        var parameters = Dense();
        Assert.That(NativeMethods.proteus_flux_attention(context, &old, &parameters, null), Is.EqualTo(ProteusStatus.Ok));
        Assert.That(Output(tensors), Is.All.EqualTo(0.5f), "every value is 0.5, so every softmax average is 0.5");
    }

    private static IEnumerable<TestCaseData> BadBudgets()
    {
        TestCaseData Case(string argument, Func<ProteusFluxParams, ProteusFluxParams> change) =>
            new TestCaseData(argument, change).SetArgDisplayNames(argument);
        yield return Case("params.struct_size", p => p with { StructSize = 8 });
        yield return Case("params.policy", p => p with { Policy = 7 });
        yield return Case("params.window", p => p with { Window = 0 });
        yield return Case("params.window", p => p with { Window = -3 });
        yield return Case("params.anchor_count", p => p with { AnchorCount = -1, AnchorStride = 4 });
        yield return Case("params.anchor_stride", p => p with { AnchorCount = 2, AnchorStride = 0 });
        yield return Case("params.anchor_stride", p => p with { AnchorStride = -2 });
        yield return Case("params.dna_count", p => p with { DnaCount = -1 });
        yield return Case("params.seed_cap", p => p with { Policy = (int)ProteusCandidatePolicy.Seed, SeedCap = 0, SeedLocalCap = 1 });
        yield return Case("params.seed_local_cap", p => p with { Policy = (int)ProteusCandidatePolicy.Seed, SeedCap = 1, SeedLocalCap = -1 });
        yield return Case("params.scale", p => p with { UseDefaultScale = 0, Scale = 0f });
        yield return Case("params.scale", p => p with { UseDefaultScale = 0, Scale = -1f });
        yield return Case("params.scale", p => p with { UseDefaultScale = 0, Scale = float.NaN });
        yield return Case("params.scale", p => p with { UseDefaultScale = 0, Scale = float.PositiveInfinity });
    }

    [TestCaseSource(nameof(BadBudgets))]
    public void InvalidBudgetIsRejectedByTheLibrary(string argument, Func<ProteusFluxParams, ProteusFluxParams> change) =>
        AssertRejected(Flux(Valid(), change(Dense())), ProteusStatus.InvalidArgument, argument);

    [TestCase("launch.struct_size")]
    [TestCase("launch.mode")]
    [TestCase("launch.block_q")]
    [TestCase("launch.rows_per_warp")]
    [TestCase("launch.stages")]
    public void InvalidLaunchConfigIsRejectedByTheLibrary(string argument)
    {
        var launch = new ProteusLaunchConfig { StructSize = (uint)sizeof(ProteusLaunchConfig) };
        switch (argument)
        {
            case "launch.struct_size": launch.StructSize = 4; break;
            case "launch.mode": launch.Mode = 9; break;
            case "launch.block_q": launch.BlockQ = -1; break;
            case "launch.rows_per_warp": launch.RowsPerWarp = 24; break;
            default: launch.Stages = -4; break;
        }
        AssertRejected(Flux(Valid(), Dense(), launch), ProteusStatus.InvalidArgument, argument);
    }

    [Test]
    public void DestroyedBufferIsAnInvalidHandleNeverACrash()
    {
        var buffer = Buffer(64);
        nint raw = buffer.DangerousGetHandle();
        Assert.That(NativeMethods.proteus_buffer_destroy(raw), Is.EqualTo(ProteusStatus.Ok));
        ulong size;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(NativeMethods.proteus_buffer_size(buffer, &size), Is.EqualTo(ProteusStatus.InvalidHandle));
            Assert.That(NativeMethods.proteus_buffer_destroy(raw), Is.EqualTo(ProteusStatus.InvalidHandle));
            Assert.That(LastError().Status, Is.EqualTo(ProteusStatus.InvalidHandle));
        }
        buffer.SetHandleAsInvalid(); // already destroyed: the SafeHandle must not destroy it again

        var tensors = Valid();
        var doomed = Buffer((ulong)(KvHeads * SeqLen * HeadDim * 4));
        tensors.K.Buffer = doomed.DangerousGetHandle();
        Assert.That(NativeMethods.proteus_buffer_destroy(tensors.K.Buffer), Is.EqualTo(ProteusStatus.Ok));
        doomed.SetHandleAsInvalid();
        AssertRejected(Flux(tensors, Dense()), ProteusStatus.InvalidHandle, "k.buffer");
    }

    [Test]
    public void NullHandlesAreInvalidHandles()
    {
        using var nullBuffer = new ProteusBufferHandle();
        ulong size;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(NativeMethods.proteus_buffer_destroy(0), Is.EqualTo(ProteusStatus.InvalidHandle));
            Assert.That(NativeMethods.proteus_context_destroy(0), Is.EqualTo(ProteusStatus.InvalidHandle));
            Assert.That(NativeMethods.proteus_buffer_size(nullBuffer, &size), Is.EqualTo(ProteusStatus.InvalidHandle));
        }
    }

    [Test]
    public void DestroyedContextInvalidatesItselfAndItsBuffers()
    {
        Assert.That(NativeMethods.proteus_context_create((int)TestDevices.Backend, 0, out var other), Is.EqualTo(ProteusStatus.Ok));
        Assert.That(NativeMethods.proteus_buffer_create(other, 256, out var buffer), Is.EqualTo(ProteusStatus.Ok));
        nint rawContext = other.DangerousGetHandle();
        nint rawBuffer = buffer.DangerousGetHandle();
        Assert.That(NativeMethods.proteus_context_destroy(rawContext), Is.EqualTo(ProteusStatus.Ok));
        ulong size;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(NativeMethods.proteus_context_synchronize(other), Is.EqualTo(ProteusStatus.InvalidHandle));
            Assert.That(NativeMethods.proteus_buffer_size(buffer, &size), Is.EqualTo(ProteusStatus.InvalidHandle));
            Assert.That(NativeMethods.proteus_buffer_destroy(rawBuffer), Is.EqualTo(ProteusStatus.InvalidHandle));
            Assert.That(NativeMethods.proteus_context_destroy(rawContext), Is.EqualTo(ProteusStatus.InvalidHandle));
        }
        buffer.SetHandleAsInvalid();
        other.SetHandleAsInvalid();
        Assert.That(Flux(Valid(), Dense()), Is.EqualTo(ProteusStatus.Ok), "another context is unaffected");
    }

    [Test]
    public void LastErrorIsKeptPerThread()
    {
        var parameters = Dense() with { Window = 0 };
        Assert.That(Flux(Valid(), parameters), Is.EqualTo(ProteusStatus.InvalidArgument));
        (ProteusStatus Status, string Message) onOtherThread = default;
        var thread = new Thread(() =>
        {
            var error = LastError();
            onOtherThread = (error.Status, error.Message);
        });
        thread.Start();
        thread.Join();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(onOtherThread.Status, Is.EqualTo(ProteusStatus.Ok), "a fresh thread has no error");
            Assert.That(onOtherThread.Message, Is.Empty);
            Assert.That(LastError().Argument, Is.EqualTo("params.window"), "this thread still has its own");
        }
    }

    [Test]
    public void SuccessfulCallKeepsTheLastError()
    {
        Assert.That(Flux(Valid(), Dense() with { DnaCount = -1 }), Is.EqualTo(ProteusStatus.InvalidArgument));
        Assert.That(Flux(Valid(), Dense()), Is.EqualTo(ProteusStatus.Ok));
        Assert.That(LastError().Argument, Is.EqualTo("params.dna_count"), "the header: a successful call does not clear it");
    }

    private ProteusStatus Time(ProteusFluxTiming timing, bool withTimes = true, ProteusFluxParams? parameters = null)
    {
        ProteusFluxTensors tensors = Valid();
        ProteusFluxParams flux = parameters ?? Dense();
        float* times = stackalloc float[16];
        return NativeMethods.proteus_flux_time(context, &tensors, &flux, null, &timing, withTimes ? times : null, null);
    }

    private static ProteusFluxTiming Timing(int warmup, int repeats, uint flags = 0) => new()
    {
        StructSize = (uint)sizeof(ProteusFluxTiming), Warmup = warmup, Repeats = repeats, Flags = flags,
    };

    [TestCase(-1, 1, 0u, "timing.warmup")]
    [TestCase(1001, 1, 0u, "timing.warmup")]
    [TestCase(0, 0, 0u, "timing.repeats")]
    [TestCase(0, 10001, 0u, "timing.repeats")]
    [TestCase(0, 1, 2u, "timing.flags")]
    public void FluxTimeRejectsABadTiming(int warmup, int repeats, uint flags, string argument) =>
        AssertRejected(Time(Timing(warmup, repeats, flags)), ProteusStatus.InvalidArgument, argument);

    [Test]
    public void FluxTimeRejectsMissingTimesASmallStructAndABadCall()
    {
        AssertRejected(Time(Timing(0, 1), withTimes: false), ProteusStatus.InvalidArgument, "milliseconds");
        AssertRejected(Time(Timing(0, 1) with { StructSize = 8 }), ProteusStatus.InvalidArgument, "timing.struct_size");
        AssertRejected(Time(Timing(0, 1), parameters: Dense() with { Window = 0 }), ProteusStatus.InvalidArgument, "params.window");
    }

    [Test]
    public void FluxTimeWritesOneTimePerRepeat()
    {
        ProteusFluxTensors tensors = Valid();
        ProteusFluxParams flux = Dense();
        ProteusFluxTiming timing = Timing(1, 4, (uint)ProteusFluxTimingFlags.FlushCache);
        float* times = stackalloc float[5];
        times[4] = -7;
        var ran = new ProteusFluxRunInfo { StructSize = (uint)sizeof(ProteusFluxRunInfo) };
        Assert.That(NativeMethods.proteus_flux_time(context, &tensors, &flux, null, &timing, times, &ran), Is.EqualTo(ProteusStatus.Ok));
        Assert.That(new[] { times[0], times[1], times[2], times[3] }, Has.All.GreaterThan(0f));
        Assert.That(times[4], Is.EqualTo(-7f), "nothing past repeats is written");
        Assert.That((ProteusFluxKernel)ran.Kernel, Is.Not.EqualTo(ProteusFluxKernel.None));
    }

    [Test]
    public void LogCallbackRejectsAnUnknownLevel()
    {
        Assert.That(NativeMethods.proteus_set_log_callback(null, null, 5), Is.EqualTo(ProteusStatus.InvalidArgument));
        Assert.That(LastError().Argument, Is.EqualTo("min_level"));
    }
}
