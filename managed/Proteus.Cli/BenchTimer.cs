using System.Diagnostics;

namespace Proteus.Cli;

/// <summary>How one case was timed.</summary>
/// <param name="WarmupRuns">Untimed runs before the samples (each synchronized).</param>
/// <param name="EstimateMs">The last warm-up's time from launch to synchronize, which sized the samples.</param>
/// <param name="LaunchesPerSample">Launches queued back to back in each sample before one synchronize.</param>
/// <param name="MedianMs">The median over the samples of the per-launch time.</param>
/// <param name="SampleMs">Each sample's time divided by its launches.</param>
internal sealed record Timing(int WarmupRuns, double EstimateMs, int LaunchesPerSample, double MedianMs, double[] SampleMs);

/// <summary>
/// Times a launch on a host clock around launch and synchronize, sized so that a case costs about a
/// fixed budget whatever its speed: slow cases get few samples (at least one), fast ones up to a cap.
/// </summary>
internal static class BenchTimer
{
    /// <summary>
    /// A sample lasts at least this long: launches shorter than it are queued back to back and the
    /// sample reports their mean, so the synchronize and the clock (tens of microseconds) stay near 1 %.
    /// </summary>
    private const double MinimumSampleMs = 2.0;

    private const int MaximumLaunchesPerSample = 10_000;

    /// <param name="launch">Queues one run.</param>
    /// <param name="synchronize">Waits for every queued run.</param>
    /// <param name="warmup">Warm-up runs (≥ 1), cut short once they have spent the budget.</param>
    /// <param name="maxSamples">The most timed samples.</param>
    /// <param name="budgetMs">Roughly the time the samples may take together.</param>
    public static Timing Measure(Action launch, Action synchronize, int warmup, int maxSamples, double budgetMs)
    {
        var stopwatch = new Stopwatch();
        double estimate = 0, spent = 0;
        int warmupRuns = 0;
        while (warmupRuns < warmup && (warmupRuns == 0 || spent < budgetMs))
        {
            stopwatch.Restart();
            launch();
            synchronize();
            estimate = stopwatch.Elapsed.TotalMilliseconds;
            spent += estimate;
            warmupRuns++;
        }

        int launches = estimate >= MinimumSampleMs
            ? 1
            : (int)Math.Min(MaximumLaunchesPerSample, Math.Ceiling(MinimumSampleMs / Math.Max(estimate, 1e-3)));
        int samples = (int)Math.Clamp(Math.Floor(budgetMs / Math.Max(estimate * launches, 1e-3)), 1, maxSamples);
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
