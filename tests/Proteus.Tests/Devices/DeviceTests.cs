using Proteus.Interop;
using Proteus.Tests.Support;

namespace Proteus.Tests.Devices;

/// <summary>Library facts, device discovery and the memory counters.</summary>
[TestFixture]
public sealed class DeviceTests
{
    [Test]
    public void LibraryVersionMatchesTheHeaderConstants()
    {
        var version = ProteusLibrary.Version;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(version.Major, Is.EqualTo(NativeConstants.VersionMajor));
            Assert.That(version.Minor, Is.EqualTo(NativeConstants.VersionMinor));
            Assert.That(version.Build, Is.EqualTo(NativeConstants.VersionPatch));
        }
    }

    [Test]
    public void TheCpuThreadCountIsSetAndReadBackAndValidated()
    {
        using var cpu = Device.Open(Backend.Cpu);
        Assert.That(cpu.Threads, Is.InRange(1, Device.MaxThreads), "a new CPU device has PROTEUS_NUM_THREADS or the hardware threads");
        cpu.Threads = 3;
        Assert.That(cpu.Threads, Is.EqualTo(3));
        using (Assert.EnterMultipleScope())
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => cpu.Threads = 0);
            Assert.Throws<ArgumentOutOfRangeException>(() => cpu.Threads = Device.MaxThreads + 1);
            Assert.That(cpu.Threads, Is.EqualTo(3), "a refused count leaves the threads as they were");
        }
        cpu.Threads = 1;
        Assert.That(cpu.Threads, Is.EqualTo(1));
    }

    [Test]
    public void CpuBackendIsAlwaysCompiledIn() =>
        Assert.That(ProteusLibrary.CompiledBackends, Does.Contain(Backend.Cpu));

    [Test]
    public void EnumerateListsEachCompiledBackendsDevicesInOrdinalOrder()
    {
        var devices = Device.Enumerate();
        Assert.That(devices.Where(d => d.Backend == Backend.Cpu), Is.Not.Empty, "the CPU is always a device");
        foreach (var group in devices.GroupBy(d => d.Backend))
        {
            Assert.That(ProteusLibrary.CompiledBackends, Does.Contain(group.Key));
            Assert.That(group.Select(d => d.Ordinal), Is.EqualTo(Enumerable.Range(0, group.Count())), $"{group.Key} ordinals");
        }
        foreach (var device in devices)
        {
            using (Assert.EnterMultipleScope())
            {
                Assert.That(device.Name, Is.Not.Empty);
                Assert.That(device.Architecture, Is.Not.Empty);
                Assert.That(device.TotalMemory, Is.GreaterThan(0UL));
                Assert.That(device.MultiprocessorCount, Is.GreaterThanOrEqualTo(1));
                Assert.That(device.WarpSize, device.Backend == Backend.Cpu ? Is.EqualTo(1) : Is.GreaterThanOrEqualTo(32));
            }
        }
    }

    [Test]
    public void OpenedDeviceDescribesTheEnumeratedOne()
    {
        foreach (var info in Device.Enumerate())
        {
            using var device = Device.Open(info.Backend, info.Ordinal);
            Assert.That(device.Info, Is.EqualTo(info));
            Assert.That(device.Backend, Is.EqualTo(info.Backend));
        }
    }

    [Test]
    public void OpenBestPrefersCudaThenHipThenCpu()
    {
        var backends = Device.Enumerate().Select(d => d.Backend).ToHashSet();
        var expected = backends.Contains(Backend.Cuda) ? Backend.Cuda : backends.Contains(Backend.Hip) ? Backend.Hip : Backend.Cpu;
        using var device = Device.OpenBest();
        Assert.That(device.Backend, Is.EqualTo(expected));
        Assert.That(device.Info.Ordinal, Is.Zero);
    }

    [Test]
    public void OpeningAMissingDeviceIsBackendUnavailable()
    {
        int cpuCount = Device.Enumerate().Count(d => d.Backend == Backend.Cpu);
        var exception = Assert.Throws<ProteusBackendUnavailableException>(() => Device.Open(Backend.Cpu, cpuCount));
        Assert.That(exception.Status, Is.EqualTo(Status.BackendUnavailable));
        foreach (var backend in new[] { Backend.Cuda, Backend.Hip }.Where(b => !Device.Enumerate().Any(d => d.Backend == b)))
        {
            Assert.Throws<ProteusBackendUnavailableException>(() => Device.Open(backend), $"{backend} has no device here");
        }
    }

    [Test]
    public void AllocationsRaiseTheCountersAndResetPeakLowersThePeakToTheCurrent()
    {
        using var device = TestDevices.OpenUnderTest();
        var start = device.GetMemoryStats();
        var first = device.Allocate<float>(1 << 18);   // 1 MiB
        var second = device.Allocate<Half>(1 << 19);   // 1 MiB
        var both = device.GetMemoryStats();
        first.Dispose();
        var afterFree = device.GetMemoryStats();
        device.ResetPeak();
        var afterReset = device.GetMemoryStats();
        second.Dispose();
        var end = device.GetMemoryStats();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(both.AllocatedBytes, Is.EqualTo(start.AllocatedBytes + (2UL << 20)));
            Assert.That(both.PeakAllocatedBytes, Is.GreaterThanOrEqualTo(both.AllocatedBytes));
            Assert.That(afterFree.AllocatedBytes, Is.EqualTo(start.AllocatedBytes + (1UL << 20)));
            Assert.That(afterFree.PeakAllocatedBytes, Is.EqualTo(both.PeakAllocatedBytes), "freeing keeps the peak");
            Assert.That(afterReset.PeakAllocatedBytes, Is.EqualTo(afterReset.AllocatedBytes), "reset sets the peak to the current");
            Assert.That(end.AllocatedBytes, Is.EqualTo(start.AllocatedBytes));
            Assert.That(end.PeakAllocatedBytes, Is.EqualTo(afterReset.PeakAllocatedBytes));
            Assert.That(both.TotalBytes, Is.GreaterThan(0UL));
            Assert.That(both.FreeBytes, Is.LessThanOrEqualTo(both.TotalBytes));
            Assert.That(both.LimitBytes, Is.Zero);
        }
    }

    [Test]
    public void RepeatedFluxAttentionCallsDoNotAccumulateMemory()
    {
        using var device = TestDevices.OpenUnderTest();
        using var problem = new Errors.SmallProblem(device);
        var parameters = new FluxParameters { Window = 3, AnchorStride = 2, AnchorCount = 1 };
        problem.Run(problem.With(), parameters);
        device.Synchronize();
        ulong afterFirst = device.GetMemoryStats().AllocatedBytes;
        for (int call = 0; call < 5; call++)
        {
            problem.Run(problem.With(), parameters);
        }
        device.Synchronize();
        Assert.That(device.GetMemoryStats().AllocatedBytes, Is.EqualTo(afterFirst));
    }

    [Test]
    public void MemoryLimitNarrowsTotalAndFree()
    {
        using var device = TestDevices.OpenUnderTest();
        using var buffer = device.Allocate<float>(1024);
        ulong held = device.GetMemoryStats().AllocatedBytes;
        device.SetMemoryLimit(held + 10_000);
        var limited = device.GetMemoryStats();
        device.SetMemoryLimit(0);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(limited.LimitBytes, Is.EqualTo(held + 10_000));
            Assert.That(limited.TotalBytes, Is.EqualTo(held + 10_000));
            Assert.That(limited.FreeBytes, Is.LessThanOrEqualTo(10_000UL));
            Assert.That(device.GetMemoryStats().LimitBytes, Is.Zero);
        }
    }
}
