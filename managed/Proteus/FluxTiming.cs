using Proteus.Interop;

namespace Proteus;

/// <summary>
/// How <see cref="FluxAttention.Time{T}"/> runs a call: untimed warm-up runs, timed runs, and whether a
/// write larger than the device's cache precedes each timed run (so that a small problem is not timed
/// with its inputs warm in the cache).
/// </summary>
public sealed record FluxTimingOptions
{
    private readonly int _warmup = 2;
    private readonly int _repeats = 10;

    /// <summary>Untimed runs first, 0 to 1000 (2 by default).</summary>
    public int Warmup
    {
        get => _warmup;
        init => _warmup = OptionChecks.InRange(value, 0, 1000, nameof(Warmup));
    }

    /// <summary>Timed runs, 1 to 10000 (10 by default): one time each.</summary>
    public int Repeats
    {
        get => _repeats;
        init => _repeats = OptionChecks.InRange(value, 1, 10_000, nameof(Repeats));
    }

    /// <summary>Whether each timed run is preceded by a write larger than the device's last-level cache (true by default).</summary>
    public bool FlushCache { get; init; } = true;

    internal unsafe ProteusFluxTiming ToNative() => new()
    {
        StructSize = (uint)sizeof(ProteusFluxTiming),
        Warmup = Warmup,
        Repeats = Repeats,
        Flags = FlushCache ? (uint)ProteusFluxTimingFlags.FlushCache : 0u,
    };
}

/// <summary>The device times of the timed runs of one call (<see cref="FluxAttention.Time{T}"/>) and what ran.</summary>
/// <param name="Milliseconds">Each timed run's time on the device (events on a GPU, a steady clock on the CPU).</param>
/// <param name="Run">What ran: every run runs the same kernel and launch.</param>
public sealed record FluxTiming(IReadOnlyList<double> Milliseconds, FluxRunInfo Run)
{
    /// <summary>The median of <see cref="Milliseconds"/>.</summary>
    public double MedianMs => Median(Milliseconds);

    /// <summary>The median of a non-empty list (the mean of the middle two for an even count).</summary>
    internal static double Median(IReadOnlyList<double> values)
    {
        double[] sorted = values.Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
