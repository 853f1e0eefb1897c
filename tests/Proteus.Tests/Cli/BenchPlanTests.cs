using System.CommandLine;
using Proteus.Cli;

namespace Proteus.Tests.Cli;

/// <summary>What <c>proteus bench</c> plans to run and how the timer spends its budget.</summary>
[TestFixture]
public sealed class BenchPlanTests
{
    private Device device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = Device.Open(Backend.Cpu);

    [OneTimeTearDown]
    public void CloseDevice() => device.Dispose();

    private static BenchOptions Bind(string commandLine)
    {
        var bench = new BenchCommandLine();
        ParseResult parsed = bench.Command.Parse(commandLine);
        Assert.That(parsed.Errors, Is.Empty);
        return bench.Bind(parsed);
    }

    [Test]
    public void TheDefaultCpuSweepRunsDenseShortlistAndAutoAtEachT()
    {
        var attention = new FluxAttention(device);
        IReadOnlyList<BenchCase> cases = Bind("").Cases(Backend.Cpu, attention);
        Assert.That(cases.Select(c => (c.Name, c.SeqLen)), Is.EqualTo(new long[] { 512, 1024, 2048, 4096 }
            .SelectMany(t => new[] { ("dense", t), ("shortlist", t), ("auto", t) })));
        Assert.That(cases.Select(c => c.DType).Distinct(), Is.EqualTo(new[] { DType.Float32 }));
        Assert.That(cases.Select(c => (c.Heads, c.HeadDim)).Distinct(), Is.EqualTo(new[] { (8L, 64L) }));
        Assert.That(cases.Where(c => c.Name == "dense").All(c => c.IsDense));
        Assert.That(cases.Where(c => c.Name == "shortlist").Select(c => c.Parameters).Distinct(),
            Is.EqualTo(new[] { BenchOptions.ShortlistBudgets }));
    }

    [Test]
    public void AnAutoCaseCarriesWhatTheScheduleAndBudgetPick()
    {
        var attention = new FluxAttention(device);
        BenchCase auto = Bind("--seq 4096 --modes auto").Cases(Backend.Cpu, attention).Single();
        ShortlistBudget schedule = auto.Schedule!;
        // α(4096) = (4096 − 64) / (20000 − 64) with seq_low = max(64, D = 64).
        Assert.That(schedule.Alpha, Is.EqualTo(4032.0 / 19936).Within(1e-12));
        Assert.That(auto.Parameters, Is.EqualTo(schedule.ToFluxParameters()));
        Assert.That(schedule.Window + schedule.AnchorCount + schedule.DnaCount, Is.EqualTo(schedule.Length));
        Assert.That(auto.Budgets, Does.StartWith("α0.20 W"));
    }

    [Test]
    public void ASparseCaseIsEstimatedAtItsShareOfActiveRows()
    {
        // The kernels suite's sparse case keeps 20 % of tokens and 2 of 32 heads a token: 1.25 % of the rows.
        BenchCase sparse = Bind("--suite kernels").Cases(Backend.Cpu, new FluxAttention(device)).Single(c => c.Name == "sparse");
        BenchCase everyRow = sparse with { Activity = null };
        Assert.That(sparse.ActiveDensity, Is.EqualTo(0.2 * 2 / 32).Within(1e-12));
        Assert.That(BenchCommand.EstimatedFlops(sparse), Is.EqualTo(BenchCommand.EstimatedFlops(everyRow) * 0.2 * 2 / 32).Within(1e-6).Percent);
    }

    [Test]
    public void TheHeadDimsSuiteRunsDenseD80D96AndD256BesideD128AtT16K()
    {
        IReadOnlyList<BenchCase> cases = Bind("--suite headdims").Cases(Backend.Cpu, new FluxAttention(device));
        Assert.That(cases.Select(c => (c.Name, c.HeadDim)),
            Is.EqualTo(new[] { ("dense-h8-d80", 80L), ("dense-h8-d96", 96L), ("dense-h8-d128", 128L), ("dense-h8-d256", 256L) }));
        Assert.That(cases.Select(c => (c.SeqLen, c.Batch, c.Heads, c.DType)), Is.All.EqualTo((16_384L, 1L, 8L, DType.BFloat16)));
        Assert.That(cases.Select(c => c.Parameters), Is.All.EqualTo(FluxParameters.Dense));
    }

    [Test]
    public void ExplicitBudgetsMakeOneFluxCasePerT()
    {
        IReadOnlyList<BenchCase> cases = Bind("--seq 2048,1024 --window 341 --anchor-stride 256 --anchors 171")
            .Cases(Backend.Cpu, new FluxAttention(device));
        Assert.That(cases.Select(c => (c.Name, c.SeqLen)), Is.EqualTo(new[] { ("flux", 1024L), ("flux", 2048L) }));
        Assert.That(cases[0].Budgets, Is.EqualTo("W341 S256 A171"));
    }

    [Test]
    public void WarmUpStopsOnceItPassesAQuarterOfTheBudget()
    {
        int calls = 0;
        Timing timing = BenchTimer.Measure(() => { calls++; Thread.Sleep(40); }, () => { }, warmup: 10, maxSamples: 30, budgetMs: 100, (_, _) => { });
        // The first warm-up (≥ 40 ms) already passes 25 ms, so no second; the samples get what is left: one.
        Assert.That(timing.WarmupRuns, Is.EqualTo(1));
        Assert.That(timing.SampleMs, Has.Length.EqualTo(1));
        Assert.That(calls, Is.EqualTo(2));
        Assert.That(timing.SpreadPercent, Is.Null, "one sample has no spread");
    }

    [Test]
    public void ACallLongerThanTheBudgetIsTimedOnceWithoutWarmUp()
    {
        int calls = 0;
        Timing timing = BenchTimer.Measure(() => { calls++; Thread.Sleep(30); }, () => { }, warmup: 0, maxSamples: 30, budgetMs: 10, (_, _) => { });
        Assert.That((timing.WarmupRuns, timing.SampleMs.Length, calls), Is.EqualTo((0, 1, 1)));
        Assert.That(timing.MedianMs, Is.GreaterThanOrEqualTo(30));
    }
}
