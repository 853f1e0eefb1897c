using Proteus.Interop;

namespace Proteus;

/// <summary>Facts about the loaded libproteus: its version and the backends compiled into it.</summary>
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
            uint mask = nativeMask;
            return Enum.GetValues<Backend>().Where(backend => (mask & (1u << (int)backend)) != 0).ToArray();
        }
    }

    /// <summary>
    /// The file libproteus was loaded from, or null while it has not been loaded yet (or when the
    /// operating system's default search found it). Useful to check which build an application runs.
    /// </summary>
    public static string? NativeLibraryPath => NativeLibraryResolver.LoadedPath;
}
