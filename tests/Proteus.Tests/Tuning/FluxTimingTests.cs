using Microsoft.Extensions.Logging;
using Proteus.Tests.Errors;

namespace Proteus.Tests.Tuning;

/// <summary>proteus_flux_time through <see cref="FluxAttention.Time{T}"/> and the raw ABI, on the CPU.</summary>
public sealed class FluxTimingTests
{
    [Test]
    public void TimeReturnsOnePositiveTimePerRepeat()
    {
        using var device = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(device);
        var attention = new FluxAttention(device);

        FluxTiming timing = attention.Time(problem.With(), FluxParameters.Dense, options: new FluxTimingOptions { Warmup = 1, Repeats = 5 });

        Assert.That(timing.Milliseconds, Has.Count.EqualTo(5));
        Assert.That(timing.Milliseconds, Has.All.GreaterThan(0.0));
        Assert.That(timing.Run.Kernel, Is.Not.EqualTo(FluxKernel.None));
        Assert.That(attention.LastRun, Is.SameAs(timing.Run));
        Assert.That(timing.Run.Elapsed!.Value.TotalMilliseconds, Is.EqualTo(timing.MedianMs).Within(1e-3));
    }

    [Test]
    public void TimeWithCacheFlushStillComputesTheResult()
    {
        using var device = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(device);
        problem.Output.Buffer.Fill(float.NaN);

        new FluxAttention(device).Time(problem.With(), FluxParameters.Dense, options: new FluxTimingOptions { Warmup = 0, Repeats = 2, FlushCache = true });

        // Every value is 0.25, so attention of any row gives 0.25.
        Assert.That(problem.Output.Buffer.ToArray(), Has.All.EqualTo(0.25f));
    }

    [Test]
    public void MeasureTimeReportsTheLibrarysDeviceTime()
    {
        using var device = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(device);
        var attention = new FluxAttention(device) { MeasureTime = true };

        FluxRunInfo run = attention.Run(problem.With(), FluxParameters.Dense);

        Assert.That(run.Elapsed, Is.Not.Null);
        Assert.That(run.Elapsed!.Value, Is.GreaterThan(TimeSpan.Zero));
    }

    [Test]
    public void TimingOptionsRejectOutOfRangeCounts()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new FluxTimingOptions { Repeats = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new FluxTimingOptions { Warmup = -1 });
    }

    [Test]
    public void TimeValidatesTheCallLikeARun()
    {
        using var device = Device.Open(Backend.Cpu);
        using var problem = new SmallProblem(device);
        var attention = new FluxAttention(device);

        // The output has the key's one head where the query has two.
        var error = Assert.Throws<ProteusInvalidArgumentException>(
            () => attention.Time(problem.With(output: problem.Key), FluxParameters.Dense))!;
        Assert.That(error.ArgumentName, Does.StartWith("o."));
        Assert.That(attention.LastRun, Is.Null, "nothing ran");
    }
}

/// <summary>proteus_set_log_callback through <see cref="ProteusLibrary.Logger"/>.</summary>
[NonParallelizable]
public sealed class LogCallbackTests
{
    [TearDown]
    public void RemoveLogger() => ProteusLibrary.Logger = null;

    [Test]
    public void NativeMessagesReachTheLoggerUntilItIsRemoved()
    {
        var logger = new RecordingLogger(LogLevel.Debug);
        ProteusLibrary.Logger = logger;
        using (Device.Open(Backend.Cpu))
        {
        }
        Assert.That(logger.Messages, Has.Some.Contains("libproteus: context opened on"));

        ProteusLibrary.Logger = null;
        int before = logger.Messages.Count;
        using (Device.Open(Backend.Cpu))
        {
        }
        Assert.That(logger.Messages, Has.Count.EqualTo(before));
    }

    [Test]
    public void MessagesBelowTheLoggersLevelAreNotSent()
    {
        var logger = new RecordingLogger(LogLevel.Warning);
        ProteusLibrary.Logger = logger;
        using (Device.Open(Backend.Cpu))
        {
        }
        Assert.That(logger.Messages, Has.None.Contains("context opened"));
    }
}

/// <summary>A logger that keeps every message it takes, for assertions.</summary>
internal sealed class RecordingLogger(LogLevel minimum) : ILogger
{
    private readonly List<(LogLevel Level, string Text)> entries = [];

    public IReadOnlyList<string> Messages
    {
        get
        {
            lock (entries)
            {
                return entries.Select(e => e.Text).ToArray();
            }
        }
    }

    public IReadOnlyList<(LogLevel Level, string Text)> Entries
    {
        get
        {
            lock (entries)
            {
                return entries.ToArray();
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }
        lock (entries)
        {
            entries.Add((logLevel, formatter(state, exception)));
        }
    }
}
