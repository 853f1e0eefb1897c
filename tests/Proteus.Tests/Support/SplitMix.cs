namespace Proteus.Tests.Support;

/// <summary>Reproducible test inputs without a generator's state: a value is a pure function of where it goes.</summary>
public static class SplitMix
{
    /// <summary>A value in [−1, 1) from (seed, tensor, index): SplitMix64's finaliser over the three packed together.</summary>
    /// <param name="seed">The case's seed.</param>
    /// <param name="tensor">Which tensor of the case (q, k, v, a mask, …), so that tensors differ.</param>
    /// <param name="index">The element's index in that tensor.</param>
    /// <returns>The value.</returns>
    public static float Value(int seed, int tensor, long index)
    {
        ulong z = unchecked(((ulong)(uint)seed << 40) ^ ((ulong)tensor << 56) ^ (ulong)index) + 0x9E3779B97F4A7C15UL;
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (float)((z >> 40) / (double)(1UL << 24) * 2 - 1);
    }
}
