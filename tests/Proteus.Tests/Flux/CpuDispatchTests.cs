using Proteus.Interop;

namespace Proteus.Tests.Flux;

/// <summary>
/// Explicit dispatch on the CPU backend: it runs its reference only, so any launch configuration but the
/// default is an error naming the field; the run info reports the reference kernel and the query slice;
/// the launch candidates are the default alone.
/// </summary>
[TestFixture]
public sealed class CpuDispatchTests
{
    private const long Heads = 2, SeqLen = 33, HeadDim = 16;

    private Device cpu = null!;
    private DeviceBuffer<float> q = null!, k = null!, v = null!, o = null!;

    [OneTimeSetUp]
    public void Open()
    {
        cpu = Device.Open(Backend.Cpu);
        (q, k, v, o) = (Filled(0.5f), Filled(0.25f), Filled(2f), Filled(float.NaN));
    }

    [OneTimeTearDown]
    public void Close() => cpu.Dispose();

    private DeviceBuffer<float> Filled(float value)
    {
        var buffer = cpu.Allocate<float>(Heads * SeqLen * HeadDim);
        buffer.Fill(value);
        return buffer;
    }

    private FluxInputs<float> Inputs(long tq = SeqLen, long? queryOffset = null) => new()
    {
        Query = TensorLayouts.QueryRows(TensorLayouts.Bhtd(q, 1, Heads, SeqLen, HeadDim), 0, tq),
        Key = TensorLayouts.Bhtd(k, 1, Heads, SeqLen, HeadDim),
        Value = TensorLayouts.Bhtd(v, 1, Heads, SeqLen, HeadDim),
        Output = TensorLayouts.QueryRows(TensorLayouts.Bhtd(o, 1, Heads, SeqLen, HeadDim), 0, tq),
        QueryOffset = queryOffset,
    };

    private static IEnumerable<TestCaseData> NonDefaultLaunches()
    {
        TestCaseData Case(string argument, LaunchConfig launch) => new TestCaseData(argument, launch).SetArgDisplayNames(argument + " " + launch);
        yield return Case("launch.mode", new LaunchConfig { Mode = LaunchMode.Tile });
        yield return Case("launch.mode", new LaunchConfig { Mode = LaunchMode.Row });
        yield return Case("launch.mode", new LaunchConfig { Mode = LaunchMode.TileWgmma });
        yield return Case("launch.block_q", new LaunchConfig { BlockQ = 64 });
        yield return Case("launch.block_k", new LaunchConfig { BlockK = 64 });
        yield return Case("launch.rows_per_warp", new LaunchConfig { RowsPerWarp = 16 });
        yield return Case("launch.stages", new LaunchConfig { Stages = 2 });
    }

    [TestCaseSource(nameof(NonDefaultLaunches))]
    public void ALaunchConfigurationIsRejectedNamingTheField(string argument, LaunchConfig launch)
    {
        o.Fill(float.NaN);
        var exception = Assert.Throws<ProteusInvalidArgumentException>(() => new FluxAttention(cpu).Run(Inputs(), FluxParameters.Dense, launch));
        Assert.That(exception!.ArgumentName, Is.EqualTo(argument));
        // Nothing ran, and the default configuration runs.
        Assert.That(o.ToArray(), Is.All.NaN);
        Assert.DoesNotThrow(() => new FluxAttention(cpu).Run(Inputs(), FluxParameters.Dense, new LaunchConfig()));
    }

    [Test]
    public void TheRunInfoReportsTheTileKernelAndTheSlice()
    {
        var attention = new FluxAttention(cpu);
        FluxRunInfo full = attention.Run(Inputs(), FluxParameters.Dense);
        Assert.That(attention.LastRun, Is.SameAs(full));
        FluxRunInfo decode = attention.Run(Inputs(tq: 1), FluxParameters.Dense);
        FluxRunInfo chunk = attention.Run(Inputs(tq: 5, queryOffset: 7), FluxParameters.Dense);
        cpu.Synchronize();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(new[] { full.Kernel, decode.Kernel, chunk.Kernel }, Is.All.EqualTo(FluxKernel.CpuTile));
            Assert.That(new[] { full.ResolvedLaunch, decode.ResolvedLaunch, chunk.ResolvedLaunch }, Is.All.EqualTo(new LaunchConfig()));
            Assert.That((full.QueryOffset, full.QueryLength), Is.EqualTo((0L, SeqLen)));
            Assert.That((decode.QueryOffset, decode.QueryLength), Is.EqualTo((SeqLen - 1, 1L)), "p0 defaults to T − Tq");
            Assert.That((chunk.QueryOffset, chunk.QueryLength), Is.EqualTo((7L, 5L)));
            Assert.That(chunk.Shape, Is.EqualTo(new AttentionShape(1, Heads, SeqLen, HeadDim)), "T is the keys' length");
        }
        // q, k, v are constant, so every row averages v = 2.
        Assert.That(o.ToArray(), Is.All.EqualTo(2f));
    }

    [Test]
    public void TheReferenceRunsWhenAskedForAndAgreesWithTheTileKernel()
    {
        var attention = new FluxAttention(cpu);
        FluxRunInfo reference = attention.Run(Inputs(), FluxParameters.Dense, new LaunchConfig { Mode = LaunchMode.Reference });
        cpu.Synchronize();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(reference.Kernel, Is.EqualTo(FluxKernel.CpuReference));
            Assert.That(reference.ResolvedLaunch, Is.EqualTo(new LaunchConfig { Mode = LaunchMode.Reference }));
            Assert.That(o.ToArray(), Is.All.EqualTo(2f), "q, k, v are constant, so every row averages v = 2");
        }
        FluxRunInfo seed = attention.Run(Inputs(), new FluxParameters { Policy = CandidatePolicy.Seed, Window = 4, SeedCap = 8, SeedLocalCap = 4 });
        Assert.That(seed.Kernel, Is.EqualTo(FluxKernel.CpuReference), "AUTO runs the reference for the Seed policy");
    }

    [Test]
    public void TheCpuBackendOffersTheDefaultConfigurationAlone()
    {
        IReadOnlyList<LaunchConfig> candidates = new FluxAttention(cpu).LaunchCandidates(Inputs(tq: 3, queryOffset: 2), FluxParameters.Dense);
        Assert.That(candidates, Is.EqualTo(new[] { new LaunchConfig() }));
    }

    [Test]
    public void LaunchCandidatesValidateTheTensors()
    {
        var exception = Assert.Throws<ProteusInvalidArgumentException>(() =>
            new FluxAttention(cpu).LaunchCandidates(Inputs(tq: 3, queryOffset: SeqLen), FluxParameters.Dense));
        Assert.That(exception!.ArgumentName, Is.EqualTo("tensors.query_offset"));
    }
}

/// <summary>What the library says about its build, and the versioned structs of the C ABI.</summary>
[TestFixture]
public sealed unsafe class BuildAndAbiTests
{
    [Test]
    public void BuildInfoFieldsAreFilledIn()
    {
        BuildInfo build = ProteusLibrary.BuildInfo;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(build.Version, Is.EqualTo(ProteusLibrary.Version));
            Assert.That(build.Version, Is.EqualTo(new Version(NativeConstants.VersionMajor, NativeConstants.VersionMinor, NativeConstants.VersionPatch)));
            Assert.That(build.SourceRevision, Is.Not.Empty);
            Assert.That(build.KernelSourceHash, Does.Match("^[0-9a-f]{64}$"), "SHA-256 in hex");
            Assert.That(build.Compiler, Is.Not.Empty);
            Assert.That(build.CompiledBackends, Is.EqualTo(ProteusLibrary.CompiledBackends));
            Assert.That(build.CompiledBackends, Does.Contain(Backend.Cpu));
            if (build.GpuBackend == Backend.Cpu)
            {
                Assert.That(build.CompiledBackends, Is.EqualTo(new[] { Backend.Cpu }));
                Assert.That((build.GpuArchitectures, build.GpuRuntimeVersion), Is.EqualTo(("", 0)));
            }
            else
            {
                Assert.That(build.CompiledBackends, Does.Contain(build.GpuBackend));
                Assert.That(build.GpuArchitectures, Is.Not.Empty);
                Assert.That(build.GpuRuntimeVersion, Is.GreaterThan(0));
            }
        }
    }

    /// <summary>The first published size of each versioned struct, and the size the bindings have now.</summary>
    private static IEnumerable<TestCaseData> VersionedStructs()
    {
        TestCaseData Case(Type type, int first, int current) => new TestCaseData(type, first, current).SetArgDisplayNames(type.Name);
        yield return Case(typeof(ProteusErrorInfo), NativeConstants.ErrorInfoSizeV01, 88);
        yield return Case(typeof(ProteusDeviceInfo), NativeConstants.DeviceInfoSizeV01, 352);
        yield return Case(typeof(ProteusMemoryStats), NativeConstants.MemoryStatsSizeV01, 56);
        yield return Case(typeof(ProteusFluxParams), NativeConstants.FluxParamsSizeV01, 64);
        yield return Case(typeof(ProteusLaunchConfig), NativeConstants.LaunchConfigSizeV01, 24);
        yield return Case(typeof(ProteusFluxTensors), NativeConstants.FluxTensorsSizeV02, 808);  // 0.3: candidates, candidate_lengths
        yield return Case(typeof(ProteusFluxRunInfo), NativeConstants.FluxRunInfoSizeV02, 48);
        yield return Case(typeof(ProteusBuildInfo), NativeConstants.BuildInfoSizeV02, 544);
        yield return Case(typeof(ProteusLinearParams), NativeConstants.LinearParamsSizeV02, 16);
        yield return Case(typeof(ProteusNormParams), NativeConstants.NormParamsSizeV02, 16);
        yield return Case(typeof(ProteusRopeParams), NativeConstants.RopeParamsSizeV02, 24);
        yield return Case(typeof(ProteusRouterParams), NativeConstants.RouterParamsSizeV02, 32);
        yield return Case(typeof(ProteusRouterTensors), NativeConstants.RouterTensorsSizeV02, 800);
        yield return Case(typeof(ProteusSelectParams), NativeConstants.SelectParamsSizeV02, 24);
        yield return Case(typeof(ProteusDnaUpdateParams), NativeConstants.DnaUpdateParamsSizeV02, 8);
        yield return Case(typeof(ProteusExplicitCandidatesReport), NativeConstants.ExplicitCandidatesReportSizeV03, 88);
    }

    [TestCaseSource(nameof(VersionedStructs))]
    public void VersionedStructsOnlyGrowFromTheirFirstPublishedSize(Type type, int first, int current)
    {
        int size = StructLayouts.All.Single(layout => layout.ManagedType == type).Size;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(size, Is.EqualTo(current), "the generated size (a change here is an ABI change: add a PROTEUS_*_SIZE_V* constant)");
            Assert.That(System.Runtime.InteropServices.Marshal.SizeOf(type), Is.EqualTo(size), "the CLR's layout of the C# struct");
            Assert.That(first, Is.LessThanOrEqualTo(size));
            Assert.That(StructLayouts.All.Single(layout => layout.ManagedType == type).Fields[0].NativeName, Is.EqualTo("struct_size"));
        }
    }

    [Test]
    public void AnOutputStructOfTheFirstPublishedSizeIsWrittenOnlyThatFar()
    {
        _ = ProteusLibrary.Version; // installs the native library resolver
        Assert.That(NativeMethods.proteus_context_create((int)ProteusBackend.Cpu, 0, out ProteusContextHandle context), Is.EqualTo(ProteusStatus.Ok));
        using (context)
        {
            var stats = new ProteusMemoryStats
            {
                StructSize = NativeConstants.MemoryStatsSizeV01,
                TotalBytes = 7,
                WorkspaceReservedBytes = 0xDEADBEEF,
            };
            Assert.That(NativeMethods.proteus_context_memory(context, &stats), Is.EqualTo(ProteusStatus.Ok));
            Assert.That(stats.TotalBytes, Is.Not.EqualTo(7UL), "the 0.1 fields are written");
            Assert.That(stats.WorkspaceReservedBytes, Is.EqualTo(0xDEADBEEFUL), "the 0.2 tail is the caller's, beyond its struct_size");

            var small = new ProteusMemoryStats { StructSize = NativeConstants.MemoryStatsSizeV01 - 8 };
            Assert.That(NativeMethods.proteus_context_memory(context, &small), Is.EqualTo(ProteusStatus.InvalidArgument));
            // Room for the larger size, so that a library that wrote it anyway would not corrupt the stack.
            var large = new byte[sizeof(ProteusMemoryStats) + 8];
            fixed (byte* pointer = large)
            {
                ((ProteusMemoryStats*)pointer)->StructSize = (uint)large.Length;
                Assert.That(NativeMethods.proteus_context_memory(context, (ProteusMemoryStats*)pointer), Is.EqualTo(ProteusStatus.InvalidArgument));
            }
        }
    }
}
