using Microsoft.Extensions.Logging;
using Proteus.Tests.Errors;
using Proteus.Tuning;

namespace Proteus.Tests.Tuning;

/// <summary><see cref="FluxAttention.Tuning"/>: where each call's launch comes from, and that the cache never fails a call.</summary>
[NonParallelizable]  // the logger is process-wide
public sealed class TunedLaunchTests
{
    private string directory = "";

    [SetUp]
    public void CreateDirectory()
    {
        directory = Path.Combine(Path.GetTempPath(), "proteus-tuned-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
    }

    [TearDown]
    public void RemoveDirectory()
    {
        ProteusLibrary.Logger = null;
        Directory.Delete(directory, recursive: true);
    }

    private static FluxTuner QuickTuner => new(new FluxTunerOptions { Timing = new FluxTimingOptions { Warmup = 0, Repeats = 1, FlushCache = false } });

    [Test]
    public void AMissRunsTheHeuristicAndTuneOnMissTunesThenTheCacheServes()
    {
        using var device = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(device);
        var attention = new FluxAttention(device) { Cache = new TuningCache(directory), Tuner = QuickTuner };

        Assert.That(attention.Tuning, Is.EqualTo(TuningMode.CacheOnly), "the default");
        Assert.That(attention.Run(problem.With(), FluxParameters.Dense).LaunchSource, Is.EqualTo(LaunchSource.Heuristic));

        attention.Tuning = TuningMode.TuneOnMiss;
        FluxRunInfo tuned = attention.Run(problem.With(), FluxParameters.Dense);
        Assert.That(tuned.LaunchSource, Is.EqualTo(LaunchSource.Tuner));
        Assert.That(problem.Output.Buffer.ToArray(), Has.All.EqualTo(0.25f), "the call's own result, after the tuner's runs");

        var fresh = new FluxAttention(device) { Cache = new TuningCache(directory) };
        Assert.That(fresh.Run(problem.With(), FluxParameters.Dense).LaunchSource, Is.EqualTo(LaunchSource.Cache));
        Assert.That(fresh.Run(problem.With(), FluxParameters.Dense, new LaunchConfig()).LaunchSource, Is.EqualTo(LaunchSource.Caller));
        fresh.Tuning = TuningMode.Off;
        Assert.That(fresh.Run(problem.With(), FluxParameters.Dense).LaunchSource, Is.EqualTo(LaunchSource.Heuristic));
    }

    [Test]
    public void ACachedLaunchTheLibraryRefusesFallsBackToTheHeuristic()
    {
        var logger = new RecordingLogger(LogLevel.Warning);
        ProteusLibrary.Logger = logger;
        using var device = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(device);
        var cache = new TuningCache(directory);
        TuningKey key = TuningKey.Of(new FluxSignature(DType.Float32, 1, SmallProblem.Heads, SmallProblem.KvHeads, SmallProblem.SeqLen, SmallProblem.SeqLen, SmallProblem.HeadDim, FluxParameters.Dense));
        // The CPU backend has no tile mode: such an entry can only come from a stale or foreign file.
        cache.Put(TuningEnvironment.Of(device), key, new TunedLaunch(new LaunchConfig { Mode = LaunchMode.Tile }, 1, 2, DateTimeOffset.UnixEpoch));
        var attention = new FluxAttention(device) { Cache = cache };

        FluxRunInfo run = attention.Run(problem.With(), FluxParameters.Dense);

        Assert.That(run.LaunchSource, Is.EqualTo(LaunchSource.Heuristic));
        Assert.That(logger.Messages, Has.One.Contains("refused"));
    }

    [Test]
    public void AnUnwritableCacheStillRunsWithOneWarning()
    {
        var logger = new RecordingLogger(LogLevel.Warning);
        ProteusLibrary.Logger = logger;
        using var device = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(device);
        string plainFile = Path.Combine(directory, "a-file");
        File.WriteAllText(plainFile, "");
        var attention = new FluxAttention(device) { Cache = new TuningCache(Path.Combine(plainFile, "cache")), Tuner = QuickTuner, Tuning = TuningMode.TuneOnMiss };

        Assert.That(attention.Run(problem.With(), FluxParameters.Dense).LaunchSource, Is.EqualTo(LaunchSource.Tuner));
        Assert.That(attention.Run(problem.With(), FluxParameters.Dense).LaunchSource, Is.EqualTo(LaunchSource.Cache), "kept in the process");
        Assert.That(logger.Messages.Count(m => m.Contains("cannot be written")), Is.EqualTo(1));
    }
}
