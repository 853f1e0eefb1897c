using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>
/// Query slices on the CPU backend (SPEC §1): rows [p0, p0 + Tq) of q give, bit for bit, what those
/// positions have in the full-length call, whatever the budgets, mask, GQA ratio, layout and offset;
/// slices that do not fit the keys are rejected naming <c>tensors.query_offset</c>.
/// </summary>
[TestFixture]
public sealed class QuerySliceTests
{
    private Device cpu = null!;

    [OneTimeSetUp]
    public void OpenDevice() => cpu = Device.Open(Backend.Cpu);

    [OneTimeTearDown]
    public void CloseDevice() => cpu.Dispose();

    /// <summary>The budgets the slices are taken under: dense, Aligned with DNA, Relative, Seed.</summary>
    private static IEnumerable<(string Name, FluxParameters Parameters)> Budgets(int seqLen) =>
    [
        ("dense", FluxParameters.Dense),
        ("aligned-dna", new FluxParameters { Window = Math.Max(1, seqLen / 8), AnchorStride = 5, AnchorCount = 3, DnaCount = 4 }),
        ("relative", new FluxParameters { Policy = CandidatePolicy.Relative, Window = Math.Max(1, seqLen / 6), AnchorStride = 7, AnchorCount = 4, DnaCount = 2 }),
        ("seed", new FluxParameters { Policy = CandidatePolicy.Seed, Window = 9, AnchorStride = 6, AnchorCount = 3, DnaCount = 2, SeedCap = 14, SeedLocalCap = 6 }),
    ];

    public static IEnumerable<TestCaseData> Slices()
    {
        int n = 0;
        foreach (int seqLen in (int[])[1, 37, 300])
        {
            foreach (var (name, parameters) in Budgets(seqLen))
            {
                foreach (var dtype in DTypes.Storage)
                {
                    var random = new Random(9000 + n);
                    long p0 = random.Next(seqLen);
                    long tq = 1 + random.Next(seqLen - (int)p0);
                    var c = new SliceCase
                    {
                        Seed = 9000 + n,
                        DType = dtype,
                        Batch = 1 + n % 2,
                        Heads = 4,
                        KvHeads = n % 3 == 0 ? 4 : n % 3 == 1 ? 2 : 1,
                        SeqLen = seqLen,
                        HeadDim = FluxCases.HeadDims[n % FluxCases.HeadDims.Length],
                        Parameters = parameters,
                        QueryOffset = p0,
                        QueryLength = tq,
                        ExplicitOffset = true,
                        RowViews = n % 2 == 0,
                        WithActiveMask = n % 4 < 2,
                    };
                    yield return Case(name, c);
                    // One decode step: Tq = 1 at p0 = T − 1, with the offset left to its default.
                    yield return Case(name, c with { QueryOffset = seqLen - 1, QueryLength = 1, ExplicitOffset = n % 2 == 1 });
                    // The last Tq positions through the default offset.
                    yield return Case(name, c with { QueryOffset = seqLen - tq, ExplicitOffset = false });
                    n++;
                }
            }
        }
    }

    private static TestCaseData Case(string name, SliceCase c) => new TestCaseData(c).SetArgDisplayNames($"{name} {c}");

    [TestCaseSource(nameof(Slices))]
    public void ASliceEqualsTheSameRowsOfTheFullLengthCallBitForBit(SliceCase c)
    {
        SliceResult full = QuerySlice.Run(cpu, c.FullLength);
        SliceResult expected = QuerySlice.Rows(c.FullLength, full, c.QueryOffset, c.QueryLength);
        SliceResult slice = QuerySlice.Run(cpu, c);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(slice.OutsideRowsTouched, Is.Zero, "elements outside the slice's rows written");
            Assert.That(slice.Active, Is.EqualTo(expected.Active));
            Assert.That(slice.OutputBits, Is.EqualTo(expected.OutputBits), "o of the slice against the same rows of the full-length call");
            Assert.That(slice.Lse, Is.EqualTo(expected.Lse), "lse of the slice against the same rows of the full-length call");
            Assert.That(slice.Run.QueryOffset, Is.EqualTo(c.QueryOffset), "the run info's query offset");
            Assert.That(slice.Run.QueryLength, Is.EqualTo(c.QueryLength));
            Assert.That(slice.Run.Kernel,
                Is.EqualTo(c.Parameters.Policy == CandidatePolicy.Seed ? FluxKernel.CpuReference : FluxKernel.CpuTile));
        }
        // The full-length call's own rows are not trivially equal: they saw different queries.
        Assert.That(full.Output.Any(double.IsNaN), Is.False, "the full-length call left o unwritten");
    }

    /// <summary>q of Tq rows, k and v of T rows, float32, dense.</summary>
    private FluxInputs<float> Inputs(List<IDisposable> owned, long tq, long seqLen, long? queryOffset, long activeRows = 0)
    {
        DeviceBuffer<float> Zeros(long length)
        {
            var buffer = cpu.Allocate<float>(length);
            buffer.Fill(0.25f);
            owned.Add(buffer);
            return buffer;
        }
        var active = activeRows > 0 ? cpu.Allocate<byte>(2 * activeRows) : null;
        if (active is not null)
        {
            active.Fill(1);
            owned.Add(active);
        }
        return new FluxInputs<float>
        {
            Query = TensorLayouts.Bhtd(Zeros(2 * tq * 16), 1, 2, tq, 16),
            Key = TensorLayouts.Bhtd(Zeros(seqLen * 16), 1, 1, seqLen, 16),
            Value = TensorLayouts.Bhtd(Zeros(seqLen * 16), 1, 1, seqLen, 16),
            Output = TensorLayouts.Bhtd(Zeros(2 * tq * 16), 1, 2, tq, 16),
            Active = active is null ? null : new TensorView<byte>(active, [1, 2, activeRows]),
            QueryOffset = queryOffset,
        };
    }

    [TestCase(4, 10, -1L)]
    [TestCase(4, 10, 7L)]
    [TestCase(1, 10, 10L)]
    [TestCase(10, 10, 1L)]
    [TestCase(1, 10, long.MaxValue)]
    public void ASliceThatDoesNotFitTheKeysIsRejectedNamingTheQueryOffset(long tq, long seqLen, long queryOffset)
    {
        var owned = new List<IDisposable>();
        try
        {
            var inputs = Inputs(owned, tq, seqLen, queryOffset);
            var exception = Assert.Throws<ProteusInvalidArgumentException>(() => new FluxAttention(cpu).Run(inputs, FluxParameters.Dense));
            Assert.That(exception!.ArgumentName, Is.EqualTo("tensors.query_offset"));
        }
        finally
        {
            owned.ForEach(o => o.Dispose());
        }
    }

    [Test]
    public void MoreQueriesThanKeysIsRejected()
    {
        var owned = new List<IDisposable>();
        try
        {
            // The default p0 = T − Tq would be negative.
            var inputs = Inputs(owned, 12, 10, null);
            var exception = Assert.Throws<ProteusInvalidArgumentException>(() => new FluxAttention(cpu).Run(inputs, FluxParameters.Dense));
            Assert.That(exception!.ArgumentName, Is.AnyOf("tensors.query_offset", "q.shape"));
        }
        finally
        {
            owned.ForEach(o => o.Dispose());
        }
    }

    [Test]
    public void AnActiveMaskOfTheKeysLengthIsRejectedWhenTheQueriesAreASlice()
    {
        var owned = new List<IDisposable>();
        try
        {
            // active follows q ([B, H, Tq]), not k.
            var inputs = Inputs(owned, 3, 10, 2, activeRows: 10);
            var exception = Assert.Throws<ProteusInvalidArgumentException>(() => new FluxAttention(cpu).Run(inputs, FluxParameters.Dense));
            Assert.That(exception!.ArgumentName, Does.StartWith("active"));
        }
        finally
        {
            owned.ForEach(o => o.Dispose());
        }
    }

    [Test]
    public void QueryRowsViewsOutsideTheirTensorAreAnArgumentOutOfRange()
    {
        using var buffer = cpu.Allocate<float>(2 * 10 * 16);
        var full = TensorLayouts.Bhtd(buffer, 1, 2, 10, 16);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(TensorLayouts.QueryRows(full, 9, 1).Shape, Is.EqualTo(new long[] { 1, 2, 1, 16 }));
            Assert.That(TensorLayouts.QueryRows(full, 9, 1).Offset, Is.EqualTo(9 * 16));
            Assert.Throws<ArgumentOutOfRangeException>(() => TensorLayouts.QueryRows(full, 9, 2));
            Assert.Throws<ArgumentOutOfRangeException>(() => TensorLayouts.QueryRows(full, -1, 2));
            Assert.Throws<ArgumentOutOfRangeException>(() => TensorLayouts.QueryRows(full, 0, 0));
            Assert.Throws<ArgumentException>(() => TensorLayouts.QueryRows(new TensorView<float>(buffer, [320]), 0, 1));
        }
    }
}
