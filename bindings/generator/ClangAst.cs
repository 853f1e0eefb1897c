using System.Diagnostics;
using System.Text.Json;

namespace Proteus.Bindings;

/// <summary>Runs clang-14 over the header and picks out the top-level declarations written in it.</summary>
internal static class ClangAst
{
    public const string Clang = "clang-14";

    /// <summary>
    /// <c>clang-14 -Xclang -ast-dump=json -fsyntax-only -x c -I native/include native/include/proteus/proteus.h</c>,
    /// run in <paramref name="repoRoot"/> so that the file names in the dump are the repository-relative
    /// paths passed here, whatever the checkout's location.
    /// </summary>
    public static string DumpJson(string repoRoot, string includeDir, string header)
    {
        var start = new ProcessStartInfo(Clang)
        {
            WorkingDirectory = repoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[] { "-Xclang", "-ast-dump=json", "-fsyntax-only", "-x", "c", "-I", includeDir, header })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new BindingsGeneratorException($"could not start {Clang}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new BindingsGeneratorException($"could not run {Clang} ({e.Message}); install it (Debian: apt-get install clang-14)");
        }
        using (process)
        {
            // Both pipes are drained concurrently: the dump is far larger than a pipe buffer.
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new BindingsGeneratorException($"{Clang} failed on {header} (exit {process.ExitCode}):\n{stderr.Result}");
            }
            return stdout.Result;
        }
    }

    /// <summary>
    /// The top-level declarations whose location (the expansion location, for a macro) lies in
    /// <paramref name="file"/>, in header order.
    /// </summary>
    /// <remarks>
    /// clang's JSON omits <c>"file"</c> from a location when it equals that of the location written just
    /// before it, anywhere in the dump. So the whole dump is walked in document order (the order clang
    /// wrote it), carrying the last file seen, and each declaration's file is the one in force once its
    /// <c>"loc"</c> has been read.
    /// </remarks>
    public static IReadOnlyList<JsonElement> DeclarationsIn(JsonElement translationUnit, string file)
    {
        var tracker = new FileTracker();
        var declarations = new List<JsonElement>();
        foreach (JsonElement declaration in translationUnit.GetProperty("inner").EnumerateArray())
        {
            string? declarationFile = null;
            foreach (JsonProperty property in declaration.EnumerateObject())
            {
                tracker.Walk(property.Value);
                if (property.NameEquals("loc") && IsValidLocation(property.Value))
                {
                    declarationFile = tracker.CurrentFile;
                }
            }
            if (declarationFile == file)
            {
                declarations.Add(declaration);
            }
        }
        return declarations;
    }

    // Builtin declarations carry an empty "loc": they belong to no file.
    private static bool IsValidLocation(JsonElement location) =>
        location.TryGetProperty("offset", out _) || location.TryGetProperty("expansionLoc", out _);

    private sealed class FileTracker
    {
        public string? CurrentFile { get; private set; }

        public void Walk(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (JsonProperty property in element.EnumerateObject())
                    {
                        if (property.NameEquals("includedFrom"))
                        {
                            // Names the including file; clang does not count it as the last file written.
                            continue;
                        }
                        if (property.NameEquals("file") && property.Value.ValueKind == JsonValueKind.String)
                        {
                            CurrentFile = property.Value.GetString();
                        }
                        else
                        {
                            Walk(property.Value);
                        }
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (JsonElement item in element.EnumerateArray())
                    {
                        Walk(item);
                    }
                    break;
            }
        }
    }
}
