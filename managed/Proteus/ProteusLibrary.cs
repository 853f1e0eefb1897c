using Microsoft.Extensions.Logging;
using Proteus.Interop;

namespace Proteus;

/// <summary>Facts about the loaded libproteus: its version, its build and the backends compiled into it.</summary>
public static class ProteusLibrary
{
    /// <summary>The native library's version (major.minor.patch).</summary>
    public static unsafe Version Version
    {
        get
        {
            int major, minor, patch;
            NativeStatus.Check(NativeMethods.proteus_get_version(&major, &minor, &patch));
            return new Version(major, minor, patch);
        }
    }

    /// <summary>The backends compiled into the loaded library, in <see cref="Backend"/> order; always includes <see cref="Backend.Cpu"/>.</summary>
    public static unsafe IReadOnlyList<Backend> CompiledBackends
    {
        get
        {
            uint nativeMask;
            NativeStatus.Check(NativeMethods.proteus_get_compiled_backends(&nativeMask));
            return BackendsIn(nativeMask);
        }
    }

    /// <summary>The backends whose bit (1 &lt;&lt; backend) is set in <paramref name="mask"/>, in <see cref="Backend"/> order.</summary>
    internal static IReadOnlyList<Backend> BackendsIn(uint mask) =>
        Enum.GetValues<Backend>().Where(backend => (mask & (1u << (int)backend)) != 0).ToArray();

    /// <summary>
    /// What the loaded library was built from and for: version, source revision, a hash of the kernel
    /// sources, backends, GPU architectures, compiler, and the GPU runtime and driver versions. Caches of
    /// tuned launch configurations key on it.
    /// </summary>
    public static unsafe BuildInfo BuildInfo
    {
        get
        {
            var info = new ProteusBuildInfo { StructSize = (uint)sizeof(ProteusBuildInfo) };
            NativeStatus.Check(NativeMethods.proteus_get_build_info(&info));
            return BuildInfo.FromNative(info);
        }
    }

    /// <summary>
    /// Where the library reports what it decides or degrades on (null, the default: nowhere): the native
    /// library's messages (the GPU BLAS loaded or missing, the router's fallback path) through its C log
    /// callback, and the managed library's (a corrupt or unwritable tuning cache). Messages below the
    /// levels the logger takes are not even formatted. Process-wide; setting it is thread-safe.
    /// </summary>
    public static ILogger? Logger
    {
        get => ProteusLog.Logger;
        set => ProteusLog.Logger = value;
    }

    /// <summary>
    /// The file libproteus was loaded from, or null while it has not been loaded yet (or when the
    /// operating system's default search found it). Useful to check which build an application runs.
    /// </summary>
    public static string? NativeLibraryPath => NativeLibraryResolver.LoadedPath;
}
