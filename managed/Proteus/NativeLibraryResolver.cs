using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Proteus.Interop;

namespace Proteus;

/// <summary>
/// Finds libproteus for the bindings assembly. The places, in order: <c>PROTEUS_NATIVE_PATH</c> (a file,
/// or a directory holding the library); the application's <c>runtimes/&lt;rid&gt;/native</c>; the
/// application's own directory; the repository's CMake build output
/// (<c>artifacts/native/build/lib</c>, found by walking up from the application directory); then the
/// operating system's default search. When all fail, the exception lists every place it looked.
/// </summary>
internal static class NativeLibraryResolver
{
    /// <summary>The environment variable naming the library file or its directory.</summary>
    public const string PathVariable = "PROTEUS_NATIVE_PATH";

    private static readonly Lock Gate = new();
    private static nint s_handle;

    /// <summary>The file the library was loaded from, once it has been loaded; null before, or when the operating system's search found it.</summary>
    public static string? LoadedPath { get; private set; }

    // A library cannot ask its users to register the resolver, and it must be in place before the
    // first P/Invoke into the bindings assembly: that is what a module initializer is for.
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries",
        Justification = "The resolver must be installed before any call into the bindings, whoever the caller is.")]
    internal static void Install() =>
        NativeLibrary.SetDllImportResolver(typeof(NativeMethods).Assembly, Resolve);

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != NativeMethods.LibraryName)
        {
            return 0;
        }
        lock (Gate)
        {
            if (s_handle == 0)
            {
                s_handle = Load(assembly, searchPath);
            }
            return s_handle;
        }
    }

    private static nint Load(Assembly assembly, DllImportSearchPath? searchPath)
    {
        var tried = new List<string>();
        foreach (string candidate in CandidatePaths())
        {
            if (!File.Exists(candidate))
            {
                tried.Add($"{candidate} (not found)");
                continue;
            }
            try
            {
                nint handle = NativeLibrary.Load(candidate);
                LoadedPath = candidate;
                return handle;
            }
            catch (DllNotFoundException e)
            {
                // The file is there but does not load (a missing dependency, a wrong architecture): say why.
                tried.Add($"{candidate} (exists but failed to load: {e.Message.ReplaceLineEndings(" ").Trim()})");
            }
        }

        if (NativeLibrary.TryLoad(NativeMethods.LibraryName, assembly, searchPath, out nint found))
        {
            return found;
        }
        tried.Add($"{FileName} through the operating system's default search (LD_LIBRARY_PATH, system directories): not found");

        throw new DllNotFoundException(
            $"Could not load the Proteus native library ({FileName}). Build it with `dotnet build` (which runs CMake), " +
            $"or set {PathVariable} to the library file or its directory. Places tried, in order:{Environment.NewLine}  " +
            string.Join(Environment.NewLine + "  ", tried));
    }

    private static IEnumerable<string> CandidatePaths()
    {
        string? explicitPath = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(explicitPath))
        {
            yield return Directory.Exists(explicitPath) ? Path.Combine(explicitPath, FileName) : explicitPath;
        }

        string baseDirectory = AppContext.BaseDirectory;
        yield return Path.Combine(baseDirectory, "runtimes", RuntimeIdentifier, "native", FileName);
        yield return Path.Combine(baseDirectory, FileName);

        for (var directory = new DirectoryInfo(baseDirectory); directory != null; directory = directory.Parent)
        {
            yield return Path.Combine(directory.FullName, "artifacts", "native", "build", "lib", FileName);
        }
    }

    /// <summary>The library's file name on this operating system.</summary>
    private static string FileName =>
        OperatingSystem.IsWindows() ? NativeMethods.LibraryName + ".dll"
        : OperatingSystem.IsMacOS() ? "lib" + NativeMethods.LibraryName + ".dylib"
        : "lib" + NativeMethods.LibraryName + ".so";

    /// <summary>The portable runtime identifier (linux-x64, osx-arm64, …) under which NuGet packs native assets.</summary>
    private static string RuntimeIdentifier
    {
        get
        {
            string os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
            return $"{os}-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
        }
    }
}
