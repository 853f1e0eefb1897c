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
/// operating system's default search. When all fail, the exception says what is missing (the runtime
/// package, the repository's native build, or a library for a platform without a package) and lists
/// every place it looked.
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
            $"Could not load the Proteus native library ({FileName}). {WhatIsMissing()} Places tried, in order:{Environment.NewLine}  " +
            string.Join(Environment.NewLine + "  ", tried));
    }

    /// <summary>The package that carries the library for this platform.</summary>
    internal static string RuntimePackage => $"Proteus.Native.Runtime.{RuntimeIdentifier}";

    /// <summary>The platforms with a runtime package.</summary>
    private static readonly string[] PackagedRuntimes = ["linux-x64"];

    /// <summary>
    /// What the user has to add, told apart by how the application was built: from this repository (the
    /// CMake build has not run), from NuGet packages (the runtime package is not referenced, or was
    /// referenced but its library did not reach the output), or for a platform without a runtime package.
    /// </summary>
    private static string WhatIsMissing()
    {
        string overrideHint = $"Or set {PathVariable} to a libproteus you built (the library file or its directory).";
        if (RepositoryRoot(AppContext.BaseDirectory) is { } repository)
        {
            return $"This application runs from the Proteus.Native repository ({repository}), whose build has not produced the library: " +
                $"build any managed project (`dotnet build`, which runs CMake into artifacts/native) or the library alone with CMake. {overrideHint}";
        }
        if (!PackagedRuntimes.Contains(RuntimeIdentifier))
        {
            return $"There is no runtime package for {RuntimeIdentifier} (runtime packages exist for {string.Join(", ", PackagedRuntimes)}): " +
                $"build libproteus from source (README: \"Using it from C or C++\") and set {PathVariable} to it.";
        }
        return ReferencesRuntimePackage() switch
        {
            true => $"The runtime package {RuntimePackage} is referenced but its runtimes/{RuntimeIdentifier}/native/{FileName} is not in the application's folder: " +
                $"was the application built or published for another runtime identifier, or were its native assets excluded? {overrideHint}",
            false => $"The runtime package {RuntimePackage} is not referenced: reference the Proteus.Native package through NuGet " +
                $"(`dotnet add package Proteus.Native`, which brings it), or add it yourself (`dotnet add package {RuntimePackage}`). {overrideHint}",
            null => $"The library comes with the runtime package {RuntimePackage}, which the Proteus.Native package depends on: reference Proteus.Native " +
                $"through NuGet rather than copying its assemblies. {overrideHint}",
        };
    }

    /// <summary>Whether the application's dependency manifest (.deps.json) lists the runtime package; null when there is no manifest to read.</summary>
    private static bool? ReferencesRuntimePackage()
    {
        // The host lists the application's manifest first (separated by ';' on every platform).
        string? manifest = (AppContext.GetData("APP_CONTEXT_DEPS_FILES") as string)?
            .Split([';', Path.PathSeparator], StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(File.Exists);
        if (manifest is null)
        {
            return null;
        }
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifest));
            if (!document.RootElement.TryGetProperty("libraries", out var libraries))
            {
                return null;
            }
            string prefix = RuntimePackage + "/";
            return libraries.EnumerateObject().Any(library => library.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>The Proteus.Native repository holding <paramref name="directory"/> (it has the C ABI header), or null.</summary>
    private static string? RepositoryRoot(string directory)
    {
        for (var current = new DirectoryInfo(directory); current != null; current = current.Parent)
        {
            if (File.Exists(Path.Combine(current.FullName, "native", "include", "proteus", "proteus.h")))
            {
                return current.FullName;
            }
        }
        return null;
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
