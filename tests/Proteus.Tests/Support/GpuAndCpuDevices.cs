namespace Proteus.Tests.Support;

/// <summary>
/// Base of the GPU fixtures that compare the first CUDA or HIP device with the CPU backend in the same
/// process: opens both once per fixture and ignores each test when no GPU is present (the fixtures
/// themselves are left out then, <see cref="GpuFixtureAttribute"/>; this is the fallback).
/// </summary>
public abstract class GpuAndCpuDevices
{
    /// <summary>The GPU device; null only when there is none (every test is then ignored).</summary>
    protected Device? Gpu { get; private set; }

    /// <summary>The CPU backend, the reference the GPU is compared with.</summary>
    protected Device? Cpu { get; private set; }

    [OneTimeSetUp]
    public void OpenDevices()
    {
        if (TestDevices.FirstGpu() is { } info)
        {
            Gpu = Device.Open(info.Backend, info.Ordinal);
            Cpu = Device.Open(Backend.Cpu);
        }
    }

    [OneTimeTearDown]
    public void CloseDevices()
    {
        Gpu?.Dispose();
        Cpu?.Dispose();
    }

    [SetUp]
    public void RequireGpu()
    {
        if (Gpu is null)
        {
            Assert.Ignore("no CUDA or HIP device on this machine");
        }
    }

    /// <summary>
    /// Whether the Hopper kernel can run here: a CUDA 12+ build for sm_90 on an sm_90 device. There AUTO's tile
    /// kernel is the Hopper one (GpuTileWgmma); elsewhere its launch mode must be refused, naming the mode.
    /// </summary>
    protected bool HopperKernelRuns() =>
        Gpu!.Info.Architecture == "sm_90" && ProteusLibrary.BuildInfo is { GpuBackend: Backend.Cuda, GpuRuntimeVersion: >= 12000 } build &&
        build.GpuArchitectures.Split(';').Contains("90");
}
