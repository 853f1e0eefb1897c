using System.CommandLine;
using Proteus.Cli;

namespace Proteus.Tests.Cli;

/// <summary>
/// <c>proteus bench</c>'s command line: what is rejected while parsing (before any device is opened),
/// with which message, and what a valid command line binds to.
/// </summary>
[TestFixture]
public sealed class BenchCommandLineTests
{
    private static ParseResult Parse(string commandLine) => Proteus.Cli.Cli.CreateRoot().Parse(commandLine);

    private static string Errors(string commandLine) => string.Join('\n', Parse(commandLine).Errors.Select(error => error.Message));

    private static BenchOptions Bind(string commandLine)
    {
        var bench = new BenchCommandLine();
        ParseResult parsed = bench.Command.Parse(commandLine);
        Assert.That(parsed.Errors, Is.Empty, commandLine);
        return bench.Bind(parsed);
    }

    [TestCase("bench --head-dim 48", "--head-dim must be one of 8, 16, 32, 64, 80, 96, 128, 256, not '48'")]
    [TestCase("bench --dtype float64", "--dtype must be one of float32, float16, bfloat16")]
    [TestCase("bench --backend tpu", "--backend must be one of best, cpu, cuda, hip")]
    [TestCase("bench --suite issue3", "--suite must be one of kernels, latency, headdims")]
    [TestCase("bench --modes dense,sparse", "--modes takes dense, shortlist, auto separated by commas, not 'sparse'")]
    [TestCase("bench --heads 0", "--heads must be ≥ 1, not 0")]
    [TestCase("bench --warmup 5000", "--warmup must be in [1, 1000], not 5000")]
    [TestCase("bench --seq 512,x", "--seq takes positive integers separated by commas, not 'x'")]
    [TestCase("bench --seq 0", "--seq takes positive integers separated by commas, not '0'")]
    [TestCase("bench --keep-ratio 0", "--keep-ratio takes a number in (0, 1]")]
    [TestCase("bench --keep-ratio 3/2", "--keep-ratio takes a number in (0, 1]")]
    [TestCase("bench --budget -1", "--budget takes a number in (0, 86400]")]
    public void ABadValueIsRejectedWithTheAllowedValues(string commandLine, string message) =>
        Assert.That(Errors(commandLine), Does.Contain(message));

    [TestCase("bench --dna 4", "--dna picks salient tokens before the local window: give --window")]
    [TestCase("bench --anchor-stride 10", "--anchor-stride is the spacing of the anchors and does nothing alone: give --anchors")]
    [TestCase("bench --window 341 --anchors 171", "--anchors places anchors at the multiples of the stride: give --anchor-stride")]
    [TestCase("bench --anchors 171 --anchor-stride 256", "--anchors counts anchors before the local window: give --window")]
    [TestCase("bench --window 341 --salience random", "--salience is what DNA ranks tokens by: give --dna")]
    [TestCase("bench --window 341 --modes dense", "drop --modes")]
    [TestCase("bench --suite kernels --heads 8 --seq 1024", "--suite fixes the shapes, budgets and rows; drop --heads, --seq")]
    [TestCase("bench --scale 1/4", "--scale shrinks the lengths of a --suite")]
    [TestCase("bench --heads 16 --kv-heads 3", "--kv-heads (3) must divide --heads (16)")]
    [TestCase("bench --heads 4 --active-heads 8", "--active-heads (8) exceeds --heads (4)")]
    [TestCase("bench --plot out.svg", "--plot writes a PNG")]
    public void AnOptionThatNeedsAnotherIsAnError(string commandLine, string message) =>
        Assert.That(Errors(commandLine), Does.Contain(message));

    [TestCase("bench --backend cpu --mode tile", "--mode")]
    [TestCase("bench --backend cpu --block-q 64 --stages 2", "--block-q, --stages")]
    [TestCase("bench --backend cpu --rows-per-warp 16", "--rows-per-warp")]
    public void GpuLaunchOptionsOnTheCpuAreErrors(string commandLine, string named) =>
        Assert.That(Errors(commandLine), Does.Contain($"{named}: GPU launch options; the CPU backend has one configuration"));

    [TestCase("bench --backend cuda --threads 2", "--threads: CPU options; --backend cuda runs on a GPU")]
    [TestCase("bench --backend hip --reference", "--reference: CPU options; --backend hip runs on a GPU")]
    [TestCase("bench --reference --block-k 64", "--reference runs the CPU reference kernel; drop --block-k")]
    [TestCase("bench --threads 0", "--threads must be in [1, 4096], not 0")]
    public void CpuOptionsAreCheckedWhileParsing(string commandLine, string message) =>
        Assert.That(Errors(commandLine), Does.Contain(message));

    [Test]
    public void ThreadsAndTheReferenceBindForTheCpu()
    {
        BenchOptions options = Bind("--backend cpu --threads 3 --reference");
        Assert.That(options.Threads, Is.EqualTo(3));
        Assert.That(options.Launch, Is.EqualTo(new LaunchConfig { Mode = LaunchMode.Reference }));
    }

    [Test]
    public void GpuLaunchOptionsParseForAGpuBackend()
    {
        BenchOptions options = Bind("--backend cuda --mode tile --block-q 64 --rows-per-warp 32");
        Assert.That(options.Backend, Is.EqualTo(Backend.Cuda));
        Assert.That(options.Launch, Is.EqualTo(new LaunchConfig { Mode = LaunchMode.Tile, BlockQ = 64, RowsPerWarp = 32 }));
    }

    [Test]
    public void SdpaNeedsThePlot()
    {
        string perf = Path.GetTempFileName();
        try
        {
            Assert.That(Errors($"bench --sdpa {perf}"), Does.Contain("--sdpa is drawn on the plot: give --plot"));
            Assert.That(Errors($"bench --sdpa {perf} --plot {Path.ChangeExtension(perf, ".png")}"), Is.Empty);
            Assert.That(Errors($"bench --sdpa {perf}.missing --plot out.png"), Is.Not.Empty, "the file must exist");
        }
        finally
        {
            File.Delete(perf);
        }
    }

    [Test]
    public void AMisspeltNameIsAnErrorWithASuggestion()
    {
        ParseResult parsed = Parse("bench --windw 3");
        Assert.That(parsed.Errors.Select(error => error.Message), Has.Some.Contains("'--windw'"));
        Assert.That(parsed.Action, Is.InstanceOf<System.CommandLine.Invocation.ParseErrorAction>());
        Assert.That(((System.CommandLine.Invocation.ParseErrorAction)parsed.Action!).ShowTypoCorrections, Is.True);
        Assert.That(Proteus.Cli.Cli.Run(["bench", "--windw", "3"]), Is.EqualTo(Proteus.Cli.Cli.UsageExitCode));
        Assert.That(Proteus.Cli.Cli.Run(["bench", "--head-dim", "48"]), Is.EqualTo(Proteus.Cli.Cli.UsageExitCode));
    }

    [Test]
    public void HelpAndVersionAreNotErrors()
    {
        Assert.That(Parse("--version").Errors, Is.Empty);
        Assert.That(Parse("bench --help").Errors, Is.Empty);
        Assert.That(Proteus.Cli.Cli.Run(["--version"]), Is.Zero);
    }

    [Test]
    public void AValidSweepBindsEveryValue()
    {
        BenchOptions options = Bind("--seq 512,1024 --modes dense,auto --head-dim 32 --dtype float16 --budget 0.5 --keep-ratio 1/5 --call-limit 10");
        Assert.Multiple(() =>
        {
            Assert.That(options.SeqLens, Is.EqualTo(new long[] { 512, 1024 }));
            Assert.That(options.Modes, Is.EqualTo(new[] { SweepMode.Dense, SweepMode.Auto }));
            Assert.That(options.HeadDim, Is.EqualTo(32));
            Assert.That(options.DType, Is.EqualTo(DType.Float16));
            Assert.That(options.BudgetSeconds, Is.EqualTo(0.5));
            Assert.That(options.KeepRatio, Is.EqualTo(0.2).Within(1e-15));
            Assert.That(options.CallLimitSeconds, Is.EqualTo(10));
            Assert.That(options.Budgets, Is.Null);
            Assert.That(options.Launch, Is.Null);
            Assert.That(options.Backend, Is.Null, "best");
        });
    }

    [Test]
    public void NothingGivenLeavesTheDeviceDefaults()
    {
        BenchOptions options = Bind("");
        Assert.Multiple(() =>
        {
            Assert.That(options.SeqLens, Is.Null);
            Assert.That(options.Modes, Is.Null);
            Assert.That(options.Heads, Is.Null);
            Assert.That(options.BudgetSeconds, Is.Null);
            Assert.That(options.BudgetFor(Backend.Cpu), Is.EqualTo(1));
            Assert.That(options.BudgetFor(Backend.Cuda), Is.EqualTo(3));
        });
    }

    [Test]
    public void ExplicitBudgetsBindToOneFluxCase()
    {
        BenchOptions options = Bind("--window 307 --anchor-stride 256 --anchors 154 --dna 51");
        Assert.That(options.Budgets, Is.EqualTo(FluxParameters.Dense with { Window = 307, AnchorStride = 256, AnchorCount = 154, DnaCount = 51 }));
    }
}
