namespace Proteus.Tests.Reference;

/// <summary>
/// Brute-force candidate sets C(i), written from SPEC §3 and Appendix A as set computations, without
/// the index arithmetic the library uses: every piece is enumerated key by key and merged in a set.
/// Slow on purpose; it is the oracle the library is checked against.
/// </summary>
public static class CandidateSets
{
    /// <summary>C(i) of row <paramref name="row"/>, sorted ascending.</summary>
    /// <param name="parameters">Policy and budgets.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="salience">salience[b, 0..T) of the row's batch entry; may be empty when the DNA count is 0.</param>
    /// <param name="row">i.</param>
    public static long[] Of(FluxParameters parameters, long seqLen, ReadOnlySpan<float> salience, long row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, seqLen);
        return parameters.Policy switch
        {
            CandidatePolicy.Aligned => Shortlist(parameters, salience, row, AlignedAnchors(parameters, row)),
            CandidatePolicy.Relative => Shortlist(parameters, salience, row, RelativeAnchors(row, parameters.AnchorStride, parameters.AnchorCount)),
            CandidatePolicy.Seed => Seed(parameters, seqLen, salience, row),
            _ => throw new ArgumentOutOfRangeException(nameof(parameters), parameters.Policy, "unknown policy"),
        };
    }

    /// <summary>C(i) = {i} ∪ Local(i) ∪ Anchors(i) ∪ Dna(i) of the Aligned and Relative policies.</summary>
    private static long[] Shortlist(FluxParameters p, ReadOnlySpan<float> salience, long i, IEnumerable<long> anchors)
    {
        var set = new SortedSet<long> { i };
        for (long j = Math.Max(0, i - p.Window + 1); j <= i; j++)
        {
            set.Add(j);
        }
        set.UnionWith(anchors);
        // Dna(i): the K keys j ≤ i − W of highest salience; empty while i < W.
        set.UnionWith(TopSalience(salience, i - p.Window, p.DnaCount));
        return [.. set];
    }

    /// <summary>The A largest multiples of S (0, S, 2S, …) that are ≤ i − W.</summary>
    private static IEnumerable<long> AlignedAnchors(FluxParameters p, long i)
    {
        if (p.AnchorCount == 0)
        {
            return [];
        }
        var multiples = new List<long>();
        for (long m = 0; m <= i - p.Window; m += p.AnchorStride)
        {
            multiples.Add(m);
        }
        return multiples.Skip((int)Math.Max(0, multiples.Count - p.AnchorCount));
    }

    /// <summary>{max(0, i − s·S) : s = 1..count} (a set, so duplicates at 0 merge).</summary>
    private static IEnumerable<long> RelativeAnchors(long i, long stride, long count)
    {
        var anchors = new HashSet<long>();
        for (long s = 1; s <= count; s++)
        {
            anchors.Add(Math.Max(0, i - s * stride));
            if (i - s * stride <= 0)
            {
                break; // every later s gives 0 again
            }
        }
        return anchors;
    }

    /// <summary>
    /// The <paramref name="count"/> keys j ∈ [0, <paramref name="last"/>] of highest salience, ties to the
    /// larger j (SPEC §3). Empty when <paramref name="last"/> &lt; 0.
    /// </summary>
    private static long[] TopSalience(ReadOnlySpan<float> salience, long last, long count)
    {
        if (count <= 0 || last < 0)
        {
            return [];
        }
        var keys = new List<(float Salience, long Key)>();
        for (long j = 0; j <= last; j++)
        {
            keys.Add((salience[(int)j], j));
        }
        return keys
            .OrderByDescending(x => x.Salience)
            .ThenByDescending(x => x.Key)
            .Take((int)Math.Min(count, keys.Count))
            .Select(x => x.Key)
            .ToArray();
    }

    /// <summary>
    /// Appendix A, "Seed candidate list of row i": local n = min(W, L, cap_loc) keys, relative anchors
    /// s = 1..min(cap_anc, L, T) (none when S = 0), the min(L, cap_dna, T) keys j ≤ i of highest salience,
    /// union with {i}, sorted, and only the first L kept.
    /// </summary>
    private static long[] Seed(FluxParameters p, long seqLen, ReadOnlySpan<float> salience, long i)
    {
        long cap = p.SeedCap;
        long localCount = Math.Min(Math.Min(p.Window, cap), p.SeedLocalCap);
        var set = new SortedSet<long> { i };
        for (long j = Math.Max(0, i - localCount + 1); j <= i; j++)
        {
            set.Add(j);
        }
        if (p.AnchorStride > 0)
        {
            set.UnionWith(RelativeAnchors(i, p.AnchorStride, Math.Min(Math.Min(p.AnchorCount, cap), seqLen)));
        }
        set.UnionWith(TopSalience(salience, i, Math.Min(Math.Min(cap, p.DnaCount), seqLen)));
        return set.Take((int)Math.Min(cap, set.Count)).ToArray();
    }
}
