namespace Proteus.Tests.Support;

/// <summary>
/// A deterministic all-pairs covering: rows of axis-value indices such that every value of every axis
/// meets every value of every other axis in at least one row. Far fewer rows than the cross product,
/// while every single value and every interaction of two axes is still exercised.
/// </summary>
public static class PairwiseCovering
{
    /// <summary>Greedy covering (each new row, among random candidates, covers the most uncovered pairs).</summary>
    /// <param name="axisSizes">Number of values of each axis (at least two axes, each of ≥ 1 value).</param>
    /// <param name="seed">Seed of the candidate rows; the same seed gives the same rows.</param>
    public static IReadOnlyList<int[]> Generate(IReadOnlyList<int> axisSizes, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(axisSizes.Count, 2);
        const int CandidatesPerRow = 64;
        var pairs = new List<(int AxisA, int ValueA, int AxisB, int ValueB)>();
        for (int a = 0; a < axisSizes.Count; a++)
        {
            for (int b = a + 1; b < axisSizes.Count; b++)
            {
                for (int va = 0; va < axisSizes[a]; va++)
                {
                    for (int vb = 0; vb < axisSizes[b]; vb++)
                    {
                        pairs.Add((a, va, b, vb));
                    }
                }
            }
        }

        var covered = new bool[pairs.Count];
        int uncovered = pairs.Count;
        var random = new Random(seed);
        var rows = new List<int[]>();
        while (uncovered > 0)
        {
            // Every candidate contains the first uncovered pair, so each row makes progress.
            var target = pairs[Array.IndexOf(covered, false)];
            int[]? best = null;
            int bestGain = -1;
            for (int c = 0; c < CandidatesPerRow; c++)
            {
                var row = axisSizes.Select(size => random.Next(size)).ToArray();
                row[target.AxisA] = target.ValueA;
                row[target.AxisB] = target.ValueB;
                int gain = 0;
                for (int p = 0; p < pairs.Count; p++)
                {
                    if (!covered[p] && Covers(row, pairs[p]))
                    {
                        gain++;
                    }
                }
                if (gain > bestGain)
                {
                    best = row;
                    bestGain = gain;
                }
            }
            for (int p = 0; p < pairs.Count; p++)
            {
                if (!covered[p] && Covers(best!, pairs[p]))
                {
                    covered[p] = true;
                    uncovered--;
                }
            }
            rows.Add(best!);
        }
        return rows;
    }

    private static bool Covers(int[] row, (int AxisA, int ValueA, int AxisB, int ValueB) pair) =>
        row[pair.AxisA] == pair.ValueA && row[pair.AxisB] == pair.ValueB;
}
