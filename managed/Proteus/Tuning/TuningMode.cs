namespace Proteus;

/// <summary>Whether <see cref="FluxAttention"/> runs tuned launches (SPEC §8) when the caller gives none.</summary>
public enum TuningMode
{
    /// <summary>The library's heuristic always; the cache is not read.</summary>
    Off = 0,

    /// <summary>The cache's launch for the problem when it has one, else the heuristic (the default).</summary>
    CacheOnly = 1,

    /// <summary>As <see cref="CacheOnly"/>, but a miss tunes the problem first (its outputs are overwritten meanwhile) and caches the winner.</summary>
    TuneOnMiss = 2,
}

/// <summary>Where the launch configuration of a call came from (<see cref="FluxRunInfo.LaunchSource"/>).</summary>
public enum LaunchSource
{
    /// <summary>The library's heuristic (no launch passed).</summary>
    Heuristic = 0,

    /// <summary>The caller passed it.</summary>
    Caller = 1,

    /// <summary>The tuning cache had an entry for the problem.</summary>
    Cache = 2,

    /// <summary>The tuner chose it for this call (<see cref="TuningMode.TuneOnMiss"/>) and cached it.</summary>
    Tuner = 3,
}
