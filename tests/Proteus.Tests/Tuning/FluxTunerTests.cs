using Proteus.Tuning;

namespace Proteus.Tests.Tuning;

/// <summary>The tuner's search with a fake timer: the fastest matching candidate wins, a wrong one is rejected.</summary>
public sealed class FluxTunerTests
{
    private static readonly LaunchConfig Heuristic = new() { Mode = LaunchMode.Tile, BlockQ = 64, BlockK = 64, RowsPerWarp = 16, Stages = 2 };
    private static readonly LaunchConfig Faster = Heuristic with { BlockK = 128 };
    private static readonly LaunchConfig Fastest = Heuristic with { BlockQ = 128 };
    private static readonly LaunchConfig Slower = Heuristic with { Stages = 3 };

    [Test]
    public void TheFastestCandidateWhoseOutputMatchesWins()
    {
        var timer = new FakeTimer(DType.BFloat16, (Heuristic, 2.0), (Slower, 3.0), (Faster, 1.5), (Fastest, 1.0));
        var reports = new List<TuningProgress>();

        TuningResult result = new FluxTuner().Tune(timer, new SynchronousProgress<TuningProgress>(reports.Add));

        Assert.That(result.Chosen, Is.EqualTo(Fastest));
        Assert.That((result.HeuristicMs, result.ChosenMs, result.HeuristicBest), Is.EqualTo((2.0, 1.0, false)));
        Assert.That(result.SpeedUp, Is.EqualTo(2.0));
        Assert.That(result.Rejected, Is.Empty);
        Assert.That(reports.Select(r => r.Done), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(reports[1].Milliseconds, Is.Null, "a first run 1.5× slower than the best is not timed in full");
    }

    [Test]
    public void ACandidateWithAWrongOutputIsRejectedNeverChosen()
    {
        var timer = new FakeTimer(DType.BFloat16, (Heuristic, 2.0), (Faster, 1.5), (Fastest, 1.0));
        timer.Outputs[Fastest] = [1.0f, 2.0f, 3.1f];  // 3 % off: beyond bfloat16's 1e-2
        timer.Outputs[Faster] = [1.0f, 2.0f, 3.001f];  // within it

        TuningResult result = new FluxTuner().Tune(timer);

        Assert.That(result.Chosen, Is.EqualTo(Faster));
        Assert.That(result.Rejected.Select(r => r.Launch), Is.EqualTo(new[] { Fastest }));
        Assert.That(result.Rejected[0].Reason, Does.Contain("relative L2"));
    }

    [Test]
    public void AWrongTailTileIsRejectedThoughTheCheckReadsASample()
    {
        // [B 1, H 2, T 65536, D 8]; the check reads 16 Ki of its 1 Mi elements.
        long[] shape = [1, 2, 65536, 8];
        float[] reference = Enumerable.Range(0, 1 << 20).Select(i => MathF.Sin(i * 0.37f)).ToArray();
        float[] tailBug = (float[])reference.Clone();
        float[] rounding = reference.Select(x => x * 1.001f).ToArray();
        for (long head = 0; head < 2; head++)
        {
            // The last 64-row tile of each head is wrong, nothing else.
            Array.Clear(tailBug, (int)((head * 65536 + 65536 - 64) * 8), 64 * 8);
        }
        var timer = new FakeTimer(DType.BFloat16, (Heuristic, 2.0), (Faster, 1.5), (Fastest, 1.0)) { Shape = shape };
        timer.Outputs[Heuristic] = reference;
        timer.Outputs[Fastest] = tailBug;
        timer.Outputs[Faster] = rounding;

        TuningResult result = new FluxTuner(new FluxTunerOptions { CheckElements = 1 << 14 }).Tune(timer);

        Assert.That(timer.LargestRead, Is.LessThanOrEqualTo(1 << 14));
        Assert.That(result.Rejected.Select(r => r.Launch), Is.EqualTo(new[] { Fastest }));
        Assert.That(result.Chosen, Is.EqualTo(Faster));
    }

    [Test]
    public void ACandidateIsWarmedAndTimedOnceAcrossItsFirstRunAndTheRest()
    {
        var timer = new FakeTimer(DType.Float16, (Heuristic, 2.0), (Faster, 1.5));

        new FluxTuner(new FluxTunerOptions { Timing = new FluxTimingOptions { Warmup = 2, Repeats = 7 } }).Tune(timer);

        Assert.That(timer.Calls.Where(c => c.Launch == Faster).Select(c => (c.Options.Warmup, c.Options.Repeats)),
            Is.EqualTo(new[] { (1, 1), (1, 6) }), "2 warm-up and 7 timed runs in all, the first run deciding whether the rest follow");
    }

    [Test]
    public void NaNInACandidatesOutputRejectsIt()
    {
        var timer = new FakeTimer(DType.Float32, (Heuristic, 2.0), (Fastest, 1.0));
        timer.Outputs[Fastest] = [1.0f, float.NaN, 3.0f];

        TuningResult result = new FluxTuner().Tune(timer);

        Assert.That(result.HeuristicBest, Is.True);
        Assert.That(result.Rejected[0].Reason, Does.Contain("NaN"));
    }

    [Test]
    public void ANoiseSizedGainKeepsTheHeuristic()
    {
        var timer = new FakeTimer(DType.Float16, (Heuristic, 2.0), (Faster, 1.99));

        TuningResult result = new FluxTuner().Tune(timer);

        Assert.That(result.HeuristicBest, Is.True);
        Assert.That(result.ToTunedLaunch().Heuristic, Is.True);
        Assert.That(result.SpeedUp, Is.EqualTo(1.0));
    }

    [Test]
    public void TheBudgetStopsTheSearchAndCancellationThrows()
    {
        var slowTimer = new FakeTimer(DType.Float16, (Heuristic, 2.0), (Faster, 1.5), (Fastest, 1.0)) { WallDelay = TimeSpan.FromMilliseconds(30) };
        TuningResult result = new FluxTuner(new FluxTunerOptions { Budget = TimeSpan.FromMilliseconds(1) }).Tune(slowTimer);
        Assert.That(result.BudgetSpent, Is.True);
        Assert.That(result.Chosen, Is.EqualTo(Heuristic));

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => new FluxTuner().Tune(new FakeTimer(DType.Float16, (Heuristic, 2.0)), cancellation: cancelled.Token));
    }

    [Test]
    public void RelativeL2FollowsTheSpec()
    {
        Assert.That(FluxTuner.RelativeL2([3f, 4f], [3f, 4f]), Is.Zero);
        Assert.That(FluxTuner.RelativeL2([3f, 4.5f], [3f, 4f]), Is.EqualTo(0.1).Within(1e-12));
        Assert.That(FluxTuner.RelativeL2([float.PositiveInfinity], [1f]), Is.EqualTo(double.PositiveInfinity));
        Assert.That(FluxTuner.Tolerance(DType.Float16), Is.EqualTo(2e-3));
    }

    [Test]
    public void OnTheCpuTheOneCandidateIsTheHeuristic()
    {
        using var device = Device.Open(Backend.Cpu);
        using var problem = new Errors.SmallProblem(device);

        TuningResult result = new FluxTuner(new FluxTunerOptions { Timing = new FluxTimingOptions { Warmup = 0, Repeats = 2 } })
            .Tune(new FluxAttention(device), problem.With(), FluxParameters.Dense);

        Assert.That(result.HeuristicBest, Is.True);
        Assert.That(result.HeuristicMs, Is.GreaterThan(0));
    }

    /// <summary>
    /// Candidates with fixed times and outputs; the heuristic's output is [1, 2, 3] unless given. With a
    /// <see cref="Shape"/> the outputs are whole contiguous tensors of it, sampled as a device timer samples them.
    /// </summary>
    private sealed class FakeTimer(DType dtype, params (LaunchConfig Launch, double Ms)[] candidates) : IFluxTimer
    {
        private LaunchConfig? _last;

        public Dictionary<LaunchConfig, float[]> Outputs { get; } = new();

        public List<(LaunchConfig Launch, FluxTimingOptions Options)> Calls { get; } = [];

        public TimeSpan WallDelay { get; init; }

        public long[]? Shape { get; init; }

        public long LargestRead { get; private set; }

        public DType DType => dtype;

        public IReadOnlyList<LaunchConfig> Candidates => candidates.Select(c => c.Launch).ToArray();

        public IReadOnlyList<double> Time(LaunchConfig? launch, FluxTimingOptions options)
        {
            Thread.Sleep(WallDelay);
            _last = launch ?? candidates[0].Launch;
            Calls.Add((_last, options));
            double ms = candidates.Single(c => c.Launch == _last).Ms;
            return Enumerable.Repeat(ms, options.Repeats).ToArray();
        }

        public float[] ReadOutputSample(long maxElements)
        {
            float[] output = Outputs.TryGetValue(_last!, out float[]? given) ? given : [1f, 2f, 3f];
            if (Shape is null)
            {
                return output;
            }
            long[] strides = [Shape[1] * Shape[2] * Shape[3], Shape[2] * Shape[3], Shape[3], 1];
            float[] sample = OutputSample.Of(Shape, strides, 0, maxElements).Gather(output);
            LargestRead = Math.Max(LargestRead, sample.Length);
            return sample;
        }
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
