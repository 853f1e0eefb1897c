using Proteus.Tests.Support;

namespace Proteus.Tests.Errors;

/// <summary>
/// Every kind of bad input to flux attention and the shortlist is rejected with its typed exception,
/// names the offending argument, and leaves the device computing correctly.
/// </summary>
[TestFixture]
public sealed class InvalidInputTests
{
    private Device device = null!;
    private SmallProblem problem = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = TestDevices.OpenUnderTest();

    [OneTimeTearDown]
    public void CloseDevice() => device.Dispose();

    [SetUp]
    public void CreateProblem() => problem = new SmallProblem(device);

    [TearDown]
    public void DisposeProblem() => problem.Dispose();

    /// <summary>The call throws <typeparamref name="TException"/>, then the device still computes correctly.</summary>
    private TException Rejected<TException>(Action call) where TException : Exception
    {
        var exception = Assert.Throws<TException>(call);
        Assert.That(exception.Message, Is.Not.Empty);
        DeviceHealth.AssertComputesCorrectly(device);
        return exception;
    }

    private void InvalidArgument(Action call, string argumentName)
    {
        var exception = Rejected<ProteusInvalidArgumentException>(call);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(exception.ArgumentName, Is.EqualTo(argumentName));
            Assert.That(exception.Status, Is.EqualTo(Status.InvalidArgument));
            Assert.That(exception.Message, Does.Contain(argumentName));
        }
    }

    private TensorView<float> Bhtd(int heads, int seqLen, int headDim, int batch = 1) =>
        TensorLayouts.Bhtd(problem.Buffer<float>((long)batch * heads * seqLen * headDim), batch, heads, seqLen, headDim);

    [Test]
    public void KeysFewerThanTheQueriesAreRejected() =>
        InvalidArgument(() => problem.Run(problem.With(
            key: Bhtd(SmallProblem.KvHeads, SmallProblem.SeqLen - 1, SmallProblem.HeadDim),
            value: Bhtd(SmallProblem.KvHeads, SmallProblem.SeqLen - 1, SmallProblem.HeadDim))), "q.shape");

    [Test]
    public void ValueOfAnotherLengthThanKeyIsRejected() =>
        // More keys than queries is a query slice (the last T rows); the value must still match the key.
        InvalidArgument(() => problem.Run(problem.With(key: Bhtd(SmallProblem.KvHeads, SmallProblem.SeqLen + 1, SmallProblem.HeadDim))), "v.shape");

    [Test]
    public void KeyOfAnotherBatchIsRejected() =>
        InvalidArgument(() => problem.Run(problem.With(key: Bhtd(SmallProblem.KvHeads, SmallProblem.SeqLen, SmallProblem.HeadDim, batch: 2))), "k.shape");

    [Test]
    public void ValueOfAnotherHeadCountThanKeyIsRejected() =>
        InvalidArgument(() => problem.Run(problem.With(value: Bhtd(2, SmallProblem.SeqLen, SmallProblem.HeadDim))), "v.shape");

    [Test]
    public void OutputOfAnotherShapeThanQueryIsRejected() =>
        InvalidArgument(() => problem.Run(problem.With(output: Bhtd(SmallProblem.Heads, SmallProblem.SeqLen - 1, SmallProblem.HeadDim))), "o.shape");

    [Test]
    public void QueryOfRankThreeIsRejected()
    {
        var flat = new TensorView<float>(problem.Query.Buffer, [SmallProblem.Heads, SmallProblem.SeqLen, SmallProblem.HeadDim]);
        InvalidArgument(() => problem.Run(problem.With(query: flat)), "q.rank");
    }

    [Test]
    public void HeadsNotAMultipleOfKeyValueHeadsAreRejected()
    {
        var query = Bhtd(3, SmallProblem.SeqLen, SmallProblem.HeadDim);
        var key = Bhtd(2, SmallProblem.SeqLen, SmallProblem.HeadDim);
        var value = Bhtd(2, SmallProblem.SeqLen, SmallProblem.HeadDim);
        var output = Bhtd(3, SmallProblem.SeqLen, SmallProblem.HeadDim);
        InvalidArgument(() => problem.Run(problem.With(query, key, value, output)), "k.shape");
    }

    [TestCase(4)]
    [TestCase(24)]
    [TestCase(48)]
    [TestCase(112)]
    [TestCase(512)]
    public void UnsupportedHeadDimIsRejected(int headDim)
    {
        var query = Bhtd(SmallProblem.Heads, SmallProblem.SeqLen, headDim);
        var key = Bhtd(SmallProblem.KvHeads, SmallProblem.SeqLen, headDim);
        var value = Bhtd(SmallProblem.KvHeads, SmallProblem.SeqLen, headDim);
        var output = Bhtd(SmallProblem.Heads, SmallProblem.SeqLen, headDim);
        var exception = Rejected<ProteusUnsupportedHeadDimException>(() => problem.Run(problem.With(query, key, value, output)));
        Assert.That(exception.Message, Does.Contain(headDim.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Test]
    public void UInt8StorageIsAnUnsupportedDType()
    {
        TensorView<byte> Bytes(int heads) =>
            TensorLayouts.Bhtd(problem.Buffer<byte>((long)heads * SmallProblem.SeqLen * SmallProblem.HeadDim), 1, heads, SmallProblem.SeqLen, SmallProblem.HeadDim);
        var inputs = new FluxInputs<byte> { Query = Bytes(SmallProblem.Heads), Key = Bytes(SmallProblem.KvHeads), Value = Bytes(SmallProblem.KvHeads), Output = Bytes(SmallProblem.Heads) };
        var exception = Rejected<ProteusUnsupportedDTypeException>(() => new FluxAttention(device).Run(inputs, FluxParameters.Dense));
        Assert.That(exception.Message, Does.Contain("q.dtype"));
    }

    [Test]
    public void InnermostStrideOtherThanOneIsRejected()
    {
        var buffer = problem.Buffer<float>(2L * SmallProblem.Heads * SmallProblem.SeqLen * SmallProblem.HeadDim);
        long[] shape = [1, SmallProblem.Heads, SmallProblem.SeqLen, SmallProblem.HeadDim];
        var strided = new TensorView<float>(buffer, shape, [2L * SmallProblem.Heads * SmallProblem.SeqLen * SmallProblem.HeadDim, 2L * SmallProblem.SeqLen * SmallProblem.HeadDim, 2L * SmallProblem.HeadDim, 2]);
        InvalidArgument(() => problem.Run(problem.With(query: strided)), "q.strides");
    }

    [Test]
    public void ViewReachingPastItsBufferIsRejected()
    {
        var shifted = new TensorView<float>(problem.Key.Buffer, [.. problem.Key.Shape], [.. problem.Key.Strides], offset: 1);
        InvalidArgument(() => problem.Run(problem.With(key: shifted)), "k");
    }

    [Test]
    public void OutputThatIsTheQueryIsRejected() =>
        InvalidArgument(() => problem.Run(problem.With(output: problem.Query)), "o");

    [Test]
    public void OutputOverlappingTheValueInOneBufferIsRejected()
    {
        var buffer = problem.Buffer<float>(2L * SmallProblem.Heads * SmallProblem.SeqLen * SmallProblem.HeadDim);
        var value = TensorLayouts.Bhtd(buffer, 1, SmallProblem.KvHeads, SmallProblem.SeqLen, SmallProblem.HeadDim);
        var output = new TensorView<float>(buffer, [1, SmallProblem.Heads, SmallProblem.SeqLen, SmallProblem.HeadDim], offset: SmallProblem.HeadDim);
        InvalidArgument(() => problem.Run(problem.With(value: value, output: output)), "o");
    }

    [Test]
    public void OutputWhoseRowsShareAddressesIsRejected()
    {
        // Head stride 0: both heads would write the same elements.
        var output = new TensorView<float>(problem.Output.Buffer, [1, SmallProblem.Heads, SmallProblem.SeqLen, SmallProblem.HeadDim], [0, 0, SmallProblem.HeadDim, 1]);
        InvalidArgument(() => problem.Run(problem.With(output: output)), "o.strides");
    }

    [Test]
    public void DnaWithoutSalienceIsRejected() =>
        InvalidArgument(() => problem.Run(problem.With(), new FluxParameters { Window = 2, DnaCount = 1 }), "salience");

    [Test]
    public void SalienceOfAnotherLengthIsRejected()
    {
        var salience = new TensorView<float>(problem.Buffer<float>(SmallProblem.SeqLen + 1), [1, SmallProblem.SeqLen + 1]);
        InvalidArgument(() => problem.Run(problem.With(salience: salience), new FluxParameters { Window = 2, DnaCount = 1 }), "salience.shape");
    }

    [Test]
    public void ActiveMaskOfAnotherShapeIsRejected()
    {
        var active = new TensorView<byte>(problem.Buffer<byte>(SmallProblem.SeqLen), [1, 1, SmallProblem.SeqLen]);
        InvalidArgument(() => problem.Run(problem.With(active: active)), "active.shape");
    }

    [Test]
    public void LseOfAnotherShapeIsRejected()
    {
        var lse = new TensorView<float>(problem.Buffer<float>(SmallProblem.Heads * SmallProblem.SeqLen), [1, SmallProblem.Heads * SmallProblem.SeqLen, 1]);
        InvalidArgument(() => problem.Run(problem.With(lse: lse)), "lse.shape");
    }

    [Test]
    public void AnchorsWithStrideZeroAreRejected() =>
        InvalidArgument(() => problem.Run(problem.With(), new FluxParameters { Window = 2, AnchorCount = 3, AnchorStride = 0 }), "params.anchor_stride");

    [Test]
    public void SeedPolicyWithoutItsCapIsRejected() =>
        InvalidArgument(() => problem.Run(problem.With(), new FluxParameters { Policy = CandidatePolicy.Seed, Window = 2, SeedLocalCap = 2 }), "params.seed_cap");

    [Test]
    public void GatherOfARowOutsideTheSequenceIsRejected() =>
        InvalidArgument(() => Shortlist.Gather(device, FluxParameters.Dense, 10, null, 0, [3, 10]), "rows");

    [Test]
    public void GatherWithDnaAndNoSalienceIsRejected() =>
        InvalidArgument(() => Shortlist.Gather(device, new FluxParameters { Window = 2, DnaCount = 2 }, 10, null, 0, [5]), "salience");

    [Test]
    public void GatherOfABatchRowOutsideTheSalienceIsRejected()
    {
        var salience = new TensorView<float>(problem.Buffer<float>(20), [2, 10]);
        InvalidArgument(() => Shortlist.Gather(device, new FluxParameters { Window = 2, DnaCount = 2 }, 10, salience, 2, [5]), "batch");
    }

    [Test]
    public void ShortlistBoundOfAnEmptySequenceIsRejected() =>
        InvalidArgument(() => Shortlist.Bound(FluxParameters.Dense, 0), "seq_len");

    // Budgets and launch values are checked as they are set, naming the property.
    private static IEnumerable<TestCaseData> OutOfRangeSettings()
    {
        TestCaseData Case(string property, Action set) => new TestCaseData(property, set).SetArgDisplayNames(property);
        yield return Case("Window", () => _ = new FluxParameters { Window = 0 });
        yield return Case("Window", () => _ = new FluxParameters { Window = -5 });
        yield return Case("AnchorCount", () => _ = new FluxParameters { AnchorCount = -1 });
        yield return Case("AnchorStride", () => _ = new FluxParameters { AnchorStride = -1 });
        yield return Case("DnaCount", () => _ = new FluxParameters { DnaCount = -1 });
        yield return Case("SeedCap", () => _ = new FluxParameters { SeedCap = -1 });
        yield return Case("SeedLocalCap", () => _ = new FluxParameters { SeedLocalCap = -1 });
        yield return Case("Scale", () => _ = new FluxParameters { Scale = 0f });
        yield return Case("Scale", () => _ = new FluxParameters { Scale = -0.5f });
        yield return Case("Scale", () => _ = new FluxParameters { Scale = float.NaN });
        yield return Case("Scale", () => _ = new FluxParameters { Scale = float.PositiveInfinity });
        yield return Case("Policy", () => _ = new FluxParameters { Policy = (CandidatePolicy)7 });
        yield return Case("BlockQ", () => _ = new LaunchConfig { BlockQ = -1 });
        yield return Case("RowsPerWarp", () => _ = new LaunchConfig { RowsPerWarp = -2 });
        yield return Case("Mode", () => _ = new LaunchConfig { Mode = (LaunchMode)5 });
    }

    [TestCaseSource(nameof(OutOfRangeSettings))]
    public void OutOfRangeSettingIsRejectedWhenSet(string property, Action set)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(set);
        Assert.That(exception.ParamName, Is.EqualTo(property));
    }

    [Test]
    public void AllocationPastTheMemoryLimitReportsRequestedAndFreeBytes()
    {
        ulong allocated = device.GetMemoryStats().AllocatedBytes;
        const ulong Limit = 1 << 20;
        device.SetMemoryLimit(allocated + Limit);
        ProteusOutOfMemoryException exception;
        try
        {
            Assert.That(device.GetMemoryStats().LimitBytes, Is.EqualTo(allocated + Limit));
            exception = Assert.Throws<ProteusOutOfMemoryException>(() => device.Allocate<float>((long)Limit))!;
        }
        finally
        {
            device.SetMemoryLimit(0);
        }
        using (Assert.EnterMultipleScope())
        {
            Assert.That(exception.Status, Is.EqualTo(Status.OutOfMemory));
            Assert.That(exception.RequestedBytes, Is.EqualTo(4 * Limit));
            Assert.That(exception.FreeBytes, Is.EqualTo(Limit));
            Assert.That(exception.Message, Does.Contain($"{exception.RequestedBytes} bytes").And.Contain($"{exception.FreeBytes} bytes"));
            Assert.That(device.GetMemoryStats().LimitBytes, Is.Zero);
            Assert.That(device.GetMemoryStats().AllocatedBytes, Is.EqualTo(allocated), "a failed allocation holds nothing");
        }
        DeviceHealth.AssertComputesCorrectly(device);
    }

    [Test]
    public void FluxAttentionUnderAFullMemoryLimitRunsOrReportsOutOfMemory()
    {
        // A limit of what is already held leaves no byte for anything new: the call either needs no
        // workspace and succeeds, or reports out of memory; either way the device works afterwards.
        device.SetMemoryLimit(device.GetMemoryStats().AllocatedBytes);
        try
        {
            try
            {
                problem.Run(problem.With());
            }
            catch (ProteusOutOfMemoryException exception)
            {
                Assert.That(exception.RequestedBytes, Is.GreaterThan(exception.FreeBytes));
            }
        }
        finally
        {
            device.SetMemoryLimit(0);
        }
        DeviceHealth.AssertComputesCorrectly(device);
    }
}
