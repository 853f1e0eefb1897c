namespace Proteus;

/// <summary>How the token keep ratio falls with T (docs/flux-attention.md §4).</summary>
public enum KeepRatioCurve
{
    /// <summary>keep(T) = base·sqrt(ref / T); the default.</summary>
    Sqrt = 0,

    /// <summary>keep(T) = base·log2(ref + 1) / log2(T + 1).</summary>
    Log = 1,

    /// <summary>keep(T) = base.</summary>
    Fixed = 2,
}

/// <summary>
/// The token keep ratio schedule (docs/flux-attention.md §4): keep(T) clamped to [min(MinRatio, Base), Base], blended
/// with α as (1 − α)·Base + α·keep(T). Values are checked when set, naming the field.
/// </summary>
public sealed record TokenKeepOptions
{
    private readonly KeepRatioCurve _curve;
    private readonly double _base = 1;
    private readonly long _reference = 2048;
    private readonly double _minRatio = 0.2;
    private readonly int _guard = 1;

    /// <summary>The curve; <see cref="KeepRatioCurve.Sqrt"/> by default.</summary>
    public KeepRatioCurve Curve
    {
        get => _curve;
        init => _curve = OptionChecks.Defined(value, nameof(Curve));
    }

    /// <summary>base ∈ (0, 1], the ratio at α = 0 and the ceiling of keep(T); 1 (keep every token) by default.</summary>
    public double Base
    {
        get => _base;
        init => _base = OptionChecks.PositiveAtMost(value, 1, nameof(Base));
    }

    /// <summary>ref ≥ 1, the length at which the Sqrt curve gives base; 2048 by default.</summary>
    public long Reference
    {
        get => _reference;
        init => _reference = OptionChecks.AtLeast(value, 1, nameof(Reference));
    }

    /// <summary>min_ratio ∈ [0, 1], the floor of keep(T) (the floor is min(min_ratio, base)); 0.2 by default.</summary>
    public double MinRatio
    {
        get => _minRatio;
        init => _minRatio = OptionChecks.InRange(value, 0, 1, nameof(MinRatio));
    }

    /// <summary>guard ≥ 1: every batch row keeps at least this many tokens, and always its first guard positions; 1 by default.</summary>
    public int Guard
    {
        get => _guard;
        init => _guard = OptionChecks.AtLeast(value, 1, nameof(Guard));
    }
}

/// <summary>
/// The heads-per-token schedule (docs/flux-attention.md §4): k_dense(T) falls from MaxHeads at SeqLow to MinHeads at
/// SeqHigh along r^Curve; an optional nucleus lowers it; α blends it toward min(k, HeadK). Ranges are
/// checked when set, relations (SeqHigh &gt; SeqLow, MaxHeads ≥ MinHeads) by <see cref="TokenSparsity"/>.
/// </summary>
public sealed record HeadsPerTokenOptions
{
    private readonly long _seqLow = 512;
    private readonly long _seqHigh = 4096;
    private readonly int _minHeads = 2;
    private readonly int _maxHeads = 16;
    private readonly double _curve = 0.25;
    private readonly double? _nucleusTopP;
    private readonly int _headK = 2;

    /// <summary>seq_low ≥ 1: k_dense is MaxHeads for T ≤ seq_low; 512 by default.</summary>
    public long SeqLow
    {
        get => _seqLow;
        init => _seqLow = OptionChecks.AtLeast(value, 1, nameof(SeqLow));
    }

    /// <summary>seq_high &gt; seq_low: k_dense is MinHeads for T ≥ seq_high; 4096 by default.</summary>
    public long SeqHigh
    {
        get => _seqHigh;
        init => _seqHigh = OptionChecks.AtLeast(value, 2, nameof(SeqHigh));
    }

    /// <summary>h_min ≥ 1; 2 by default.</summary>
    public int MinHeads
    {
        get => _minHeads;
        init => _minHeads = OptionChecks.AtLeast(value, 1, nameof(MinHeads));
    }

    /// <summary>h_max ≥ h_min; 16 by default. A k at or above the model's head count selects every head.</summary>
    public int MaxHeads
    {
        get => _maxHeads;
        init => _maxHeads = OptionChecks.AtLeast(value, 1, nameof(MaxHeads));
    }

    /// <summary>The curve exponent c &gt; 0; 0.25 by default.</summary>
    public double Curve
    {
        get => _curve;
        init => _curve = OptionChecks.Positive(value, nameof(Curve));
    }

    /// <summary>
    /// The nucleus top-p ∈ (0, 1]: k is lowered to the fewest heads whose share of the batch-mean head
    /// distribution reaches p. Null (the default) for no nucleus.
    /// </summary>
    public double? NucleusTopP
    {
        get => _nucleusTopP;
        init
        {
            if (value is { } p)
            {
                OptionChecks.PositiveAtMost(p, 1, nameof(NucleusTopP));
            }
            _nucleusTopP = value;
        }
    }

    /// <summary>head_k ≥ 1, the heads per token that α = 1 moves toward; 2 by default.</summary>
    public int HeadK
    {
        get => _headK;
        init => _headK = OptionChecks.AtLeast(value, 1, nameof(HeadK));
    }
}
