using Proteus.Interop;

namespace Proteus;

/// <summary>One device of one backend, as <see cref="Device.Enumerate"/> and <see cref="Device.Info"/> describe it.</summary>
/// <param name="Backend">The backend the device belongs to.</param>
/// <param name="Ordinal">The device's ordinal within its backend (what <see cref="Device.Open"/> takes).</param>
/// <param name="Name">The device's name ("NVIDIA H100 80GB HBM3"; on the CPU backend the processor's model).</param>
/// <param name="Architecture">The architecture the kernels target ("sm_90", "gfx90a", "x86_64").</param>
/// <param name="TotalMemory">Device memory in bytes (CPU: physical memory).</param>
/// <param name="MultiprocessorCount">Streaming multiprocessors or compute units (CPU: hardware threads).</param>
/// <param name="WarpSize">Threads per warp or wavefront (CPU: 1).</param>
public sealed record DeviceInfo(
    Backend Backend, int Ordinal, string Name, string Architecture, ulong TotalMemory, int MultiprocessorCount, int WarpSize)
{
    internal static unsafe DeviceInfo FromNative(ProteusDeviceInfo info) => new(
        (Backend)info.Backend,
        info.Ordinal,
        NativeText.FromFixed(info.Name, NativeConstants.DeviceNameCapacity),
        NativeText.FromFixed(info.Architecture, NativeConstants.ArchitectureCapacity),
        info.TotalMemory,
        info.MultiprocessorCount,
        info.WarpSize);

    /// <summary>A blank native record with its size filled in, for the library to complete.</summary>
    internal static unsafe ProteusDeviceInfo NativeRequest() => new() { StructSize = (uint)sizeof(ProteusDeviceInfo) };
}

/// <summary>Memory figures of a device and of the library's own allocations on it (<see cref="Device.GetMemoryStats"/>).</summary>
/// <param name="FreeBytes">Bytes free on the device (within the limit, when one is set).</param>
/// <param name="TotalBytes">Bytes on the device (the limit, when one is set).</param>
/// <param name="AllocatedBytes">Bytes the library holds now on this device: buffers and workspaces.</param>
/// <param name="PeakAllocatedBytes">The most bytes the library held at once since the device was opened or <see cref="Device.ResetPeak"/> was called.</param>
/// <param name="LimitBytes">The allocation limit set with <see cref="Device.SetMemoryLimit"/>, 0 when none.</param>
/// <param name="WorkspaceReservedBytes">Bytes the device's stream-ordered workspace pool keeps reserved for later calls (not in <paramref name="AllocatedBytes"/>).</param>
public sealed record MemoryStats(
    ulong FreeBytes, ulong TotalBytes, ulong AllocatedBytes, ulong PeakAllocatedBytes, ulong LimitBytes, ulong WorkspaceReservedBytes);
