namespace Proteus;

/// <summary>The shape of one attention call, as the budgets see it: q is [B, H, T, D].</summary>
/// <param name="Batch">B.</param>
/// <param name="Heads">H, the query heads.</param>
/// <param name="SeqLen">T.</param>
/// <param name="HeadDim">D.</param>
public readonly record struct AttentionShape(long Batch, long Heads, long SeqLen, long HeadDim);

/// <summary>The normalised piece fractions of a budget's target mix: zero for disabled pieces, summing to 1.</summary>
/// <param name="Local">The local share.</param>
/// <param name="Anchors">The anchor share.</param>
/// <param name="Dna">The DNA share.</param>
public readonly record struct PieceFractions(double Local, double Anchors, double Dna);

/// <summary>
/// The shortlist budgets of one call, as <see cref="FluxBudget.Compute(AttentionShape, double, double)"/>
/// derived them from (T, α): the total L, the window W, anchors A and DNA K (under
/// <see cref="BudgetPolicy.Seed"/>: cap_anc, cap_dna, and the local slots cap_loc).
/// </summary>
public sealed record ShortlistBudget
{
    internal ShortlistBudget(
        BudgetPolicy policy, long seqLen, double alpha, double scale, double targetLength,
        long length, long window, long anchorCount, long dnaCount, long localCap, long anchorStride)
    {
        Policy = policy;
        SeqLen = seqLen;
        Alpha = alpha;
        Scale = scale;
        TargetLength = targetLength;
        Length = length;
        Window = window;
        AnchorCount = anchorCount;
        DnaCount = dnaCount;
        LocalCap = localCap;
        AnchorStride = anchorStride;
    }

    /// <summary>The formulas that produced it.</summary>
    public BudgetPolicy Policy { get; }

    /// <summary>T.</summary>
    public long SeqLen { get; }

    /// <summary>α.</summary>
    public double Alpha { get; }

    /// <summary>The runtime scale applied to the target.</summary>
    public double Scale { get; }

    /// <summary>The target L_t after scaling and clamping to [L_min, L_max] (an integer under Seed).</summary>
    public double TargetLength { get; }

    /// <summary>L, the shortlist budget: T at α = 0 under Continuous; the Seed cap on |C(i)| under Seed (which may exceed T).</summary>
    public long Length { get; }

    /// <summary>W ≥ 1, the local window.</summary>
    public long Window { get; }

    /// <summary>A, the anchor count (Seed: cap_anc).</summary>
    public long AnchorCount { get; }

    /// <summary>K, the DNA count (Seed: cap_dna); &gt; 0 needs salience at the call.</summary>
    public long DnaCount { get; }

    /// <summary>The local slots: cap_loc under Seed (0 with the local piece disabled: no local keys), W under Continuous.</summary>
    public long LocalCap { get; }

    /// <summary>S, the anchor stride (Seed: 0 when anchors are off).</summary>
    public long AnchorStride { get; }

    /// <summary>
    /// The call's parameters: Continuous → <see cref="CandidatePolicy.Aligned"/> with Window, AnchorStride,
    /// AnchorCount, DnaCount; Seed → <see cref="CandidatePolicy.Seed"/> with SeedCap = L,
    /// SeedLocalCap = cap_loc, Window, AnchorCount = cap_anc, DnaCount = cap_dna, AnchorStride = S.
    /// The softmax scale is left at its default (1/sqrt(D)).
    /// </summary>
    /// <returns>The parameters.</returns>
    public FluxParameters ToFluxParameters() => Policy == BudgetPolicy.Seed
        ? new FluxParameters
        {
            Policy = CandidatePolicy.Seed,
            SeedCap = Length,
            SeedLocalCap = LocalCap,
            Window = Window,
            AnchorCount = AnchorCount,
            DnaCount = DnaCount,
            AnchorStride = AnchorStride,
        }
        : new FluxParameters
        {
            Policy = CandidatePolicy.Aligned,
            Window = Window,
            AnchorStride = AnchorStride,
            AnchorCount = AnchorCount,
            DnaCount = DnaCount,
        };
}
