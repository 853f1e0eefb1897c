using Proteus.Interop;

namespace Proteus;

/// <summary>What the loaded libproteus was built from and for (<see cref="ProteusLibrary.BuildInfo"/>).</summary>
/// <param name="Version">The library's version (major.minor.patch).</param>
/// <param name="SourceRevision">The source revision built ("git describe" of the tree, "+dirty" when modified; "unknown" outside git).</param>
/// <param name="KernelSourceHash">SHA-256 (hex) of every kernel and backend source compiled in: it changes whenever a kernel can.</param>
/// <param name="CompiledBackends">The backends compiled in, in <see cref="Backend"/> order.</param>
/// <param name="GpuBackend">The GPU backend compiled in; <see cref="Backend.Cpu"/> when none.</param>
/// <param name="GpuArchitectures">The GPU architectures compiled for ("80;90", "gfx90a"), empty without a GPU backend.</param>
/// <param name="Compiler">The compilers and build type ("g++ 12.2.0, nvcc 11.8, Release").</param>
/// <param name="GpuRuntimeVersion">The GPU runtime the library was built with (CUDA: 1000·major + 10·minor; HIP: its version number), 0 without one.</param>
/// <param name="GpuDriverVersion">The driver's version as the runtime reports it, 0 when no driver is loaded.</param>
public sealed record BuildInfo(
    Version Version, string SourceRevision, string KernelSourceHash, IReadOnlyList<Backend> CompiledBackends, Backend GpuBackend,
    string GpuArchitectures, string Compiler, int GpuRuntimeVersion, int GpuDriverVersion)
{
    internal static unsafe BuildInfo FromNative(ProteusBuildInfo info) => new(
        new Version(info.VersionMajor, info.VersionMinor, info.VersionPatch),
        NativeText.FromFixed(info.SourceRevision, NativeConstants.BuildTextCapacity),
        NativeText.FromFixed(info.KernelSourceHash, NativeConstants.BuildTextCapacity),
        ProteusLibrary.BackendsIn(info.CompiledBackends),
        (Backend)info.GpuBackend,
        NativeText.FromFixed(info.GpuArchitectures, NativeConstants.BuildTextCapacity),
        NativeText.FromFixed(info.Compiler, NativeConstants.BuildTextCapacity),
        info.GpuRuntimeVersion,
        info.GpuDriverVersion);
}
