using System.Diagnostics;

namespace Proteus.Cli;

/// <summary>How one case was timed.</summary>
/// <param name="WarmupRuns">Untimed runs before the samples (each synchronized).</param>
/// <param name="EstimateMs">The last warm-up's time from launch to synchronize, which sized the samples.</param>
/// <param name="LaunchesPerSample">Launches queued back to back in each sample before one synchronize.</param>
/// <param name="MedianMs">The median over the samples of the per-launch time.</param>
/// <param name="SampleMs">Each sample's time divided by its launches.</param>
internal sealed record Timing(int WarmupRuns, double EstimateMs, int LaunchesPerSample, double MedianMs, double[] SampleMs)
{
    /// <summary>Half the range of the samples in % of the median; null with a single sample.</summary>
    public double? SpreadPercent => SampleMs.Length < 2 ? null : (SampleMs.Max() - SampleMs.Min()) / 2 / MedianMs * 100;
}

/// <summary>
/// Times a launch on a host clock around launch and synchronize, sized so that a case costs about a
/// fixed budget, warm-up included, whatever its speed: slow cases get few samples (at least one),
/// fast ones up to a cap.
/// </summary>
internal static class BenchTimer
{
    /// <summary>
    /// A sample lasts at least this long: launches shorter than it are queued back to back and the
    /// sample reports their mean, so the synchronize and the clock (tens of microseconds) stay near 1 %.
    /// </summary>
    private const double MinimumSampleMs = 2.0;

    private const int MaximumLaunchesPerSample = 10_000;

    /// <summary>Warm-up runs after the first stop once they have spent this share of the budget.</summary>
    private const double WarmupShare = 0.25;

    /// <param name="launch">Queues one run.</param>
    /// <param name="synchronize">Waits for every queued run.</param>
    /// <param name="warmup">
    /// Warm-up runs; those after the first stop once they pass a quarter of the budget. 0 when one call is
    /// known to exceed the budget: its first call is then its one sample (the start-up cost is small beside it).
    /// </param>
    /// <param name="maxSamples">The most timed samples.</param>
    /// <param name="budgetMs">Roughly the time the case may take, warm-up included; at least one warm-up and one sample run.</param>
    /// <param name="progress">Called with (calls done, calls planned) after every run; the plan is known after the warm-up.</param>
    public static Timing Measure(Action launch, Action synchronize, int warmup, int maxSamples, double budgetMs, Action<int, int> progress)
    {
        var stopwatch = new Stopwatch();
        double estimate = 0, spent = 0;
        int warmupRuns = 0;
        while (warmupRuns < warmup && (warmupRuns == 0 || spent < WarmupShare * budgetMs))
        {
            stopwatch.Restart();
            launch();
            synchronize();
            estimate = stopwatch.Elapsed.TotalMilliseconds;
            spent += estimate;
            warmupRuns++;
            progress(warmupRuns, warmupRuns + 1);
        }

        if (warmupRuns == 0)
        {
            estimate = budgetMs;
        }
        int launches = estimate >= MinimumSampleMs
            ? 1
            : (int)Math.Min(MaximumLaunchesPerSample, Math.Ceiling(MinimumSampleMs / Math.Max(estimate, 1e-3)));
        int samples = (int)Math.Clamp(Math.Floor((budgetMs - spent) / Math.Max(estimate * launches, 1e-3)), 1, maxSamples);
        var times = new double[samples];
        for (int s = 0; s < samples; s++)
        {
            stopwatch.Restart();
            for (int l = 0; l < launches; l++)
            {
                launch();
            }
            synchronize();
            times[s] = stopwatch.Elapsed.TotalMilliseconds / launches;
            progress(warmupRuns + s + 1, warmupRuns + samples);
        }
        return new Timing(warmupRuns, estimate, launches, Median(times), times);
    }

    private static double Median(double[] values)
    {
        double[] sorted = values.Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
