namespace Proteus.Tests.Scheduling;

/// <summary>
/// FluxAttention's derived mode on the CPU device: the schedule and budget choose the parameters, and
/// LastRun reports them so faithfully that running them explicitly gives the same output, bit for bit.
/// </summary>
[TestFixture]
public sealed class DerivedFluxAttentionTests
{
    private const int Batch = 2, Heads = 4, KvHeads = 2, HeadDim = 32;

    private static readonly AlphaScheduleOptions Ramp32To512 = new() { SeqLow = 32, SwitchContext = 512 };

    private Device device = null!;

    [OneTimeSetUp]
    public void OpenDevice() => device = Device.Open(Backend.Cpu);

    [OneTimeTearDown]
    public void CloseDevice() => device.Dispose();

    public static IEnumerable<TestCaseData> Budgets()
    {
        var continuous = new FluxBudgetOptions
        {
            BaseLength = 48, AnchorStride = 16, Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna,
        };
        var seed = new FluxBudgetOptions { Policy = BudgetPolicy.Seed, BaseLength = 48, AnchorStride = 16 };
        foreach (int seqLen in new[] { 40, 300, 700 })
        {
            yield return new TestCaseData(continuous, seqLen).SetArgDisplayNames($"Continuous with DNA, T {seqLen}");
            yield return new TestCaseData(seed, seqLen).SetArgDisplayNames($"Seed, T {seqLen}");
        }
    }

    [TestCaseSource(nameof(Budgets))]
    public void ADerivedRunEqualsTheExplicitRunOfTheParametersItReports(FluxBudgetOptions budgetOptions, int seqLen)
    {
        var schedule = new AlphaSchedule(Ramp32To512);
        var budget = new FluxBudget(budgetOptions);
        var attention = new FluxAttention(device, schedule, budget);
        using var problem = new Problem(device, seqLen, 1000 + seqLen);

        attention.Run(problem.Inputs(problem.Output));
        float[] derived = problem.Output.Buffer.ToArray();
        FluxRunInfo run = attention.LastRun!;

        double alpha = new AlphaRamp(32, 512).Evaluate(seqLen);
        var shape = new AttentionShape(Batch, Heads, seqLen, HeadDim);
        Assert.That(run.Decision, Is.EqualTo(new AlphaDecision(alpha, AlphaSource.Auto, 1, false)));
        Assert.That(run.Alpha, Is.EqualTo(alpha));
        Assert.That(run.Budget, Is.EqualTo(budget.Compute(shape, alpha)), "LastRun's budgets are FluxBudget's");
        Assert.That(run.Parameters, Is.EqualTo(run.Budget!.ToFluxParameters()));
        Assert.That(run.Policy, Is.EqualTo(budgetOptions.Policy == BudgetPolicy.Seed ? CandidatePolicy.Seed : CandidatePolicy.Aligned));
        Assert.That((run.Backend, run.Shape, run.Launch, run.Elapsed), Is.EqualTo((Backend.Cpu, shape, (LaunchConfig?)null, (TimeSpan?)null)));

        new FluxAttention(device).Run(problem.Inputs(problem.Reference), run.Parameters);
        Assert.That(derived, Is.EqualTo(problem.Reference.Buffer.ToArray()));
    }

    [Test]
    public void TheBudgetsReallyChangeWithT()
    {
        var attention = new FluxAttention(device, new AlphaSchedule(Ramp32To512), new FluxBudget(new FluxBudgetOptions { BaseLength = 48, AnchorStride = 16 }));
        var seen = new List<(long L, long W, long A)>();
        foreach (int seqLen in new[] { 40, 300, 700 })
        {
            using var problem = new Problem(device, seqLen, seqLen);
            attention.Run(problem.Inputs(problem.Output));
            ShortlistBudget b = attention.LastRun!.Budget!;
            seen.Add((b.Length, b.Window, b.AnchorCount));
        }
        // T 40: α 1/60, L 40 dense; T 300: α 0.5583…, L = round(300 − 0.5583·252) = 159, A = floor(159·0.5583/3) = 29; T 700: α 1, L 48, A 16.
        Assert.That(seen, Is.EqualTo(new[] { (40L, 40L, 0L), (159L, 130L, 29L), (48L, 32L, 16L) }));
    }

    [Test]
    public void TheDefaultAttentionDerivesSeqLowFromTheHeadDim()
    {
        var attention = new FluxAttention(device);
        using var problem = new Problem(device, 100, 5);
        attention.Run(problem.Inputs(problem.Output));
        // D 32 → seq_low 64, switch_ctx 20000: α = 36/19936; L = round(100 + α·(512 − 100)) = 101 → clamped to T.
        Assert.That(attention.LastRun!.Alpha, Is.EqualTo(36.0 / 19936).Within(1e-15));
        Assert.That(attention.LastRun.Parameters, Is.EqualTo(new FluxParameters { Window = 100, AnchorStride = 256 }));
    }

    [Test]
    public void APerCallAlphaBeatsTheScheduleAndLeavesItAlone()
    {
        var controller = new LatencyControllerOptions { TargetLatency = TimeSpan.FromTicks(1) };
        var schedule = new AlphaSchedule(Ramp32To512 with { LatencyController = controller, Hysteresis = true });
        var budget = new FluxBudget(new FluxBudgetOptions { BaseLength = 48, AnchorStride = 16 });
        var attention = new FluxAttention(device, schedule, budget);
        using var problem = new Problem(device, 500, 8);

        attention.Run(problem.Inputs(problem.Output), new FluxRunOptions { Alpha = 0.25, Scale = 0.5f });
        FluxRunInfo run = attention.LastRun!;
        Assert.That(run.Decision, Is.EqualTo(new AlphaDecision(0.25, AlphaSource.Override, 1, false)));
        Assert.That(run.Budget, Is.EqualTo(budget.Compute(new AttentionShape(Batch, Heads, 500, HeadDim), 0.25)));
        Assert.That(run.Parameters.Scale, Is.EqualTo(0.5f));
        Assert.That(run.Elapsed, Is.Null, "not timed: the controller is not consulted");
        Assert.That((schedule.AlphaOffset, schedule.HysteresisLatched), Is.EqualTo((0.0, false)));
    }

    [Test]
    public void ALatencyControllerTimesDerivedRunsAndLearnsFromThem()
    {
        // A target of one tick: every CPU run is far slower, so each report raises the α offset by a full step.
        var controller = new LatencyControllerOptions { TargetLatency = TimeSpan.FromTicks(1), MaxAlphaStep = 0.05 };
        var schedule = new AlphaSchedule(Ramp32To512 with { LatencyController = controller });
        var attention = new FluxAttention(device, schedule, new FluxBudget());
        using var problem = new Problem(device, 64, 9);

        attention.Run(problem.Inputs(problem.Output));
        Assert.That(attention.LastRun!.Elapsed, Is.Not.Null.And.GreaterThan(TimeSpan.Zero));
        Assert.That(schedule.AlphaOffset, Is.EqualTo(0.05));
        attention.Run(problem.Inputs(problem.Output));
        Assert.That(attention.LastRun.Alpha, Is.EqualTo(32.0 / 480 + 0.05).Within(1e-15), "ramp(64) + the offset learned from the first run");
        Assert.That(schedule.AlphaOffset, Is.EqualTo(0.1).Within(1e-15));
    }

    [Test]
    public void MeasureTimeTimesEveryCall()
    {
        var attention = new FluxAttention(device) { MeasureTime = true };
        using var problem = new Problem(device, 64, 10);
        attention.Run(problem.Inputs(problem.Output), FluxParameters.Dense);
        Assert.That(attention.LastRun!.Elapsed, Is.Not.Null.And.GreaterThan(TimeSpan.Zero));
        attention.Run(problem.Inputs(problem.Output));
        Assert.That(attention.LastRun.Elapsed, Is.Not.Null.And.GreaterThan(TimeSpan.Zero));
    }

    [Test]
    public void AnExplicitRunReportsItsParametersWithoutADecision()
    {
        var attention = new FluxAttention(device);
        using var problem = new Problem(device, 64, 11);
        var parameters = new FluxParameters { Window = 7, AnchorStride = 8, AnchorCount = 2 };
        // The CPU backend takes the default configuration only (anything else is an error there).
        var launch = new LaunchConfig();
        attention.Run(problem.Inputs(problem.Output), parameters, launch);
        FluxRunInfo run = attention.LastRun!;
        Assert.That((run.Parameters, run.Launch, run.Decision, run.Budget, run.Alpha, run.Elapsed),
            Is.EqualTo((parameters, launch, (AlphaDecision?)null, (ShortlistBudget?)null, (double?)null, (TimeSpan?)null)));
        Assert.That(run.Shape, Is.EqualTo(new AttentionShape(Batch, Heads, 64, HeadDim)));
    }

    [Test]
    public void ADerivedRunNeedsARank4Query()
    {
        using var problem = new Problem(device, 16, 12);
        var flat = new TensorView<float>(problem.Output.Buffer, [problem.Output.Buffer.Length]);
        var inputs = new FluxInputs<float> { Query = flat, Key = problem.Key, Value = problem.Value, Output = problem.Output };
        var exception = Assert.Throws<ArgumentException>(() => new FluxAttention(device).Run(inputs));
        Assert.That(exception!.ParamName, Is.EqualTo("query"));
    }

    /// <summary>Random float32 q, k, v and salience of one T, with two outputs (derived and reference).</summary>
    private sealed class Problem : IDisposable
    {
        private readonly List<IDisposable> owned = [];

        public Problem(Device device, int seqLen, int seed)
        {
            var random = new Random(seed);
            TensorView<float> Random(int heads)
            {
                float[] values = [.. Enumerable.Range(0, Batch * heads * seqLen * HeadDim).Select(_ => (float)(random.NextDouble() * 2 - 1))];
                var buffer = device.Upload<float>(values);
                owned.Add(buffer);
                return TensorLayouts.Bhtd(buffer, Batch, heads, seqLen, HeadDim);
            }
            Query = Random(Heads);
            Key = Random(KvHeads);
            Value = Random(KvHeads);
            Output = Random(Heads);
            Reference = Random(Heads);
            var salience = device.Upload<float>([.. Enumerable.Range(0, Batch * seqLen).Select(_ => (float)random.NextDouble())]);
            owned.Add(salience);
            Salience = new TensorView<float>(salience, [Batch, seqLen]);
        }

        public TensorView<float> Query { get; }

        public TensorView<float> Key { get; }

        public TensorView<float> Value { get; }

        public TensorView<float> Output { get; }

        public TensorView<float> Reference { get; }

        public TensorView<float> Salience { get; }

        public FluxInputs<float> Inputs(TensorView<float> output) =>
            new() { Query = Query, Key = Key, Value = Value, Output = output, Salience = Salience };

        public void Dispose()
        {
            foreach (var buffer in owned)
            {
                buffer.Dispose();
            }
        }
    }
}
