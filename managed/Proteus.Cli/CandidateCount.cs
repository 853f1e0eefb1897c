namespace Proteus.Cli;

/// <summary>
/// |C(i)| of every row of one batch row under the Aligned policy (the only one <c>proteus bench</c>
/// runs), exactly (SPEC §3): the window min(W, i + 1); the aligned anchors, all before the window; and
/// the DNA positions, also before the window, that are not anchors. Window and anchors are index
/// arithmetic; DNA is a causal prefix top-K of the salience with ties to the larger position, O(T·K).
/// The bench checks these sizes against <see cref="Shortlist.Gather"/> at sampled rows.
/// </summary>
internal static class CandidateCount
{
    /// <param name="parameters">Aligned budgets.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="salience">The batch row's T salience values (never NaN here); may be empty when K = 0.</param>
    /// <returns>|C(i)| for i = 0..T−1.</returns>
    public static long[] RowSizes(FluxParameters parameters, long seqLen, ReadOnlySpan<float> salience)
    {
        long window = parameters.Window, stride = parameters.AnchorStride;
        long anchorBudget = parameters.AnchorCount, dnaBudget = parameters.DnaCount;
        var sizes = new long[seqLen];
        // Lowest-ranked kept position first: (salience, position) orders ties to the larger position.
        var dna = new PriorityQueue<long, (float Salience, long Position)>();
        for (long i = 0; i < seqLen; i++)
        {
            long limit = i - window;  // the last position before the window; anchors and DNA lie in [0, limit]
            long anchors = 0, firstAnchor = 0;
            if (anchorBudget > 0 && limit >= 0)
            {
                anchors = Math.Min(anchorBudget, limit / stride + 1);
                firstAnchor = (limit / stride - (anchors - 1)) * stride;
            }

            long dnaOutsideAnchors = 0;
            if (dnaBudget > 0 && limit >= 0)
            {
                // The prefix [0, limit] grows by exactly one position per row once the window is full.
                var offered = (salience[(int)limit], limit);
                if (dna.Count < dnaBudget)
                {
                    dna.Enqueue(limit, offered);
                }
                else if (dna.TryPeek(out _, out var lowest) && offered.CompareTo(lowest) > 0)
                {
                    dna.DequeueEnqueue(limit, offered);
                }
                foreach ((long position, _) in dna.UnorderedItems)
                {
                    bool isAnchor = anchors > 0 && position >= firstAnchor && position % stride == 0;
                    dnaOutsideAnchors += isAnchor ? 0 : 1;
                }
            }
            sizes[i] = Math.Min(window, i + 1) + anchors + dnaOutsideAnchors;
        }
        return sizes;
    }
}
