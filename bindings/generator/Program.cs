using System.Text;

namespace Proteus.Bindings;

/// <summary>
/// <c>dotnet run --project bindings/generator [-- [--check] [repo-root]]</c>: writes the generated files,
/// or with <c>--check</c> lists the stale ones and exits 1 without writing.
/// </summary>
internal static class Program
{
    private const string Usage = "usage: dotnet run --project bindings/generator [-- [--check] [repo-root]]";

    private static int Main(string[] args)
    {
        bool check = false;
        string? repoRoot = null;
        foreach (string arg in args)
        {
            if (arg == "--check")
            {
                check = true;
            }
            else if (arg is "-h" or "--help")
            {
                Console.WriteLine(Usage);
                return 0;
            }
            else if (arg.StartsWith('-') || repoRoot is not null)
            {
                Console.Error.WriteLine(Usage);
                return 2;
            }
            else
            {
                repoRoot = Path.GetFullPath(arg);
            }
        }

        IReadOnlyDictionary<string, string> files;
        try
        {
            repoRoot ??= Generator.FindRepositoryRoot(Directory.GetCurrentDirectory());
            files = Generator.Generate(repoRoot);
        }
        catch (BindingsGeneratorException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }

        var stale = files.Where(file => !IsCurrent(repoRoot, file.Key, file.Value)).Select(file => file.Key).ToList();
        // The Interop folder holds generated code only: a .g.cs the generator no longer writes is left over.
        string interop = Path.Combine(repoRoot, Generator.InteropDirectory);
        var leftOver = Directory.Exists(interop)
            ? Directory.EnumerateFiles(interop, "*.g.cs")
                .Select(path => Path.GetRelativePath(repoRoot, path).Replace('\\', '/'))
                .Where(path => !files.ContainsKey(path))
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];

        if (check)
        {
            if (stale.Count == 0 && leftOver.Count == 0)
            {
                Console.WriteLine($"bindings up to date ({files.Count} files)");
                return 0;
            }
            stale.ForEach(path => Console.Error.WriteLine($"stale: {path}"));
            leftOver.ForEach(path => Console.Error.WriteLine($"not generated (delete it): {path}"));
            Console.Error.WriteLine("regenerate with: dotnet run --project bindings/generator");
            return 1;
        }

        foreach (string path in stale)
        {
            string fullPath = Path.Combine(repoRoot, path);
            Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
            File.WriteAllBytes(fullPath, Encoding.UTF8.GetBytes(files[path]));
            Console.WriteLine($"wrote {path}");
        }
        foreach (string path in leftOver)
        {
            File.Delete(Path.Combine(repoRoot, path));
            Console.WriteLine($"deleted {path}");
        }
        Console.WriteLine($"bindings up to date ({files.Count} files)");
        return 0;
    }

    private static bool IsCurrent(string repoRoot, string path, string content)
    {
        string fullPath = Path.Combine(repoRoot, path);
        return File.Exists(fullPath) && File.ReadAllBytes(fullPath).AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(content));
    }
}
