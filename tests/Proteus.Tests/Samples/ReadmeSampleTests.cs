using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Proteus.Tests.Samples;

/// <summary>
/// The README's C# blocks can never rot: each one is, verbatim, the Program.cs of a project under
/// samples/, and each sample is compiled here (Roslyn, in-process, with the samples' build settings:
/// implicit usings, nullable, warnings as errors) and run on the default device, its output checked.
/// </summary>
[NonParallelizable]
public sealed partial class ReadmeSampleTests
{
    private static readonly string Root = FindRoot();

    private static string[] SampleNames() =>
        [.. Directory.GetDirectories(Path.Combine(Root, "samples")).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    private static string SampleSource(string name) => Normalize(File.ReadAllText(Path.Combine(Root, "samples", name, "Program.cs")));

    private static string[] ReadmeBlocks() =>
        [.. CSharpBlock().Matches(Normalize(File.ReadAllText(Path.Combine(Root, "README.md")))).Select(match => Normalize(match.Groups[1].Value))];

    [Test]
    public void EveryReadmeBlockIsASampleAndEverySampleIsInTheReadme()
    {
        string[] blocks = ReadmeBlocks();
        Dictionary<string, string> samples = SampleNames().ToDictionary(name => name, SampleSource);
        Assert.That(blocks, Is.Not.Empty, "the README has no ```csharp block");
        foreach (string block in blocks)
        {
            Assert.That(samples.Values, Does.Contain(block),
                $"this README block is not the Program.cs of any samples/ project:{Environment.NewLine}{block}");
        }
        foreach ((string name, string source) in samples)
        {
            Assert.That(blocks, Does.Contain(source), $"samples/{name}/Program.cs is not in the README");
        }
    }

    /// <summary>What each sample prints; "values" are outputs of attention over values in [-1, 1].</summary>
    private static readonly Dictionary<string, string> ExpectedOutput = new()
    {
        ["QuickStart"] =
            @"^\S+:\d+ .+: α explicit, L –: W 341, A 171 \(S 256\), K 0, policy Aligned, T 2048 Tq 2048, backend (Cpu|Cuda|Hip), kernel \w+, ms not measured\n" +
            @"o\[0, 0, T - 1, 0\.\.4\] = (?<values>.+)\n$",
        ["DerivedBudgets"] =
            @"^α (0|1|0\.\d+) \(\w+\), L \d+: W \d+, A \d+ \(S \d+\), K \d+, policy Aligned \(Continuous\), T 2048 Tq 2048, " +
            @"backend (Cpu|Cuda|Hip), kernel \w+, \d+(\.\d+)? ms\n$",
        ["QuerySlices"] = @"^\w+ .+\np0 1023, Tq 1, o\[0, 0, 0, 0\.\.4\] = (?<values>.+)\n$",
        ["AttentionLayer"] = @"^α 0\.\d{3}, \d heads per token, \d+ of 1024 tokens kept, kernel \w+\n" +
            @"y\[0, T - 1, 0\.\.4\] = -?\d[^,\s]*, -?\d[^,\s]*, -?\d[^,\s]*, -?\d[^,\s]*\n$",
    };

    [Test]
    public void EverySampleHasAnExpectedOutput() => Assert.That(SampleNames(), Is.EquivalentTo(ExpectedOutput.Keys));

    [TestCase("QuickStart")]
    [TestCase("DerivedBudgets")]
    [TestCase("QuerySlices")]
    [TestCase("AttentionLayer")]
    public void SampleCompilesAndRuns(string name)
    {
        Assembly program = Compile(name, SampleSource(name));
        string output = Run(program);
        TestContext.Out.Write(output);

        Match match = Regex.Match(output, ExpectedOutput[name]);
        Assert.That(match.Success, Is.True, $"samples/{name} printed:{Environment.NewLine}{output}");
        if (match.Groups["values"].Success)
        {
            float[] values = [.. match.Groups["values"].Value.Split(", ").Select(value => float.Parse(value, CultureInfo.InvariantCulture))];
            Assert.That(values, Has.Length.EqualTo(4));
            Assert.That(values, Has.All.Matches<float>(float.IsFinite));
            // Outputs are averages of values in [-1, 1]: all zero would mean nothing was written.
            Assert.That(values, Has.Some.Not.EqualTo(0f));
            Assert.That(values, Has.All.InRange(-1f, 1f));
        }
    }

    /// <summary>Compiles a top-level program as the samples' projects do (Directory.Build.props: implicit usings, nullable, warnings as errors).</summary>
    private static Assembly Compile(string name, string source)
    {
        const string implicitUsings = """
            global using System;
            global using System.Collections.Generic;
            global using System.IO;
            global using System.Linq;
            global using System.Net.Http;
            global using System.Threading;
            global using System.Threading.Tasks;
            """;
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        string trustedAssemblies = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        MetadataReference[] references =
        [
            .. trustedAssemblies.Split(Path.PathSeparator).Select(path => MetadataReference.CreateFromFile(path)),
            MetadataReference.CreateFromFile(typeof(Device).Assembly.Location),
        ];
        var compilation = CSharpCompilation.Create(
            $"Sample.{name}",
            [CSharpSyntaxTree.ParseText(source, parse, $"samples/{name}/Program.cs"), CSharpSyntaxTree.ParseText(implicitUsings, parse, "GlobalUsings.g.cs")],
            references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable,
                generalDiagnosticOption: ReportDiagnostic.Error));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        Diagnostic[] problems = [.. emitted.Diagnostics.Where(diagnostic => diagnostic.Severity >= DiagnosticSeverity.Warning)];
        Assert.That(problems, Is.Empty, $"samples/{name} does not compile:{Environment.NewLine}{string.Join(Environment.NewLine, problems.Select(p => p.ToString()))}");
        Assert.That(emitted.Success, Is.True);
        return Assembly.Load(image.ToArray());
    }

    /// <summary>Runs the program's entry point and returns what it wrote to the console (line ends as \n).</summary>
    private static string Run(Assembly program)
    {
        MethodInfo entry = program.EntryPoint ?? throw new InvalidOperationException("the sample has no entry point");
        TextWriter console = Console.Out;
        using var captured = new StringWriter(CultureInfo.InvariantCulture);
        Console.SetOut(captured);
        try
        {
            entry.Invoke(null, entry.GetParameters().Length == 0 ? null : [Array.Empty<string>()]);
        }
        finally
        {
            Console.SetOut(console);
        }
        return Normalize(captured.ToString());
    }

    private static string Normalize(string text) => text.ReplaceLineEndings("\n").Trim('\n') + "\n";

    /// <summary>The repository: the folder above the test's output that holds README.md and samples/.</summary>
    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory != null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "README.md")) && Directory.Exists(Path.Combine(directory.FullName, "samples")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No README.md with samples/ above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
