using System.Reflection;
using System.Text.RegularExpressions;

namespace Proteus.Tests.Packaging;

/// <summary>
/// One version everywhere: the header's PROTEUS_VERSION_* are read by CMake and by MSBuild
/// (Directory.Build.props), so the library that loaded, the assembly and the header agree; a stale
/// libproteus or a hand-set version anywhere fails here.
/// </summary>
public sealed class VersionTests
{
    [Test]
    public void TheLoadedLibraryTheAssemblyAndTheHeaderCarryOneVersion()
    {
        Version native = ProteusLibrary.Version;
        Version assembly = typeof(Device).Assembly.GetName().Version!;
        Assert.That(new Version(assembly.Major, assembly.Minor, assembly.Build), Is.EqualTo(native),
            "Proteus.Native.dll and libproteus disagree on the version");

        string? informational = typeof(Device).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        Assert.That(informational, Does.StartWith(native.ToString(3)), "the package version (informational version)");

        string header = File.ReadAllText(Path.Combine(RepositoryRoot(), "native", "include", "proteus", "proteus.h"));
        int Define(string part) => int.Parse(Regex.Match(header, $@"#define PROTEUS_VERSION_{part} (\d+)").Groups[1].Value);
        Assert.That(new Version(Define("MAJOR"), Define("MINOR"), Define("PATCH")), Is.EqualTo(native), "the header in the repository");
        Assert.That(ProteusLibrary.BuildInfo.Version, Is.EqualTo(native), "proteus_get_build_info");
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory != null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "native", "include", "proteus", "proteus.h")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No repository above {AppContext.BaseDirectory}.");
    }
}
