namespace Proteus;

/// <summary>Which formulas turn (T, α) into shortlist budgets (docs/flux-attention.md §4).</summary>
public enum BudgetPolicy
{
    /// <summary>
    /// The default: L moves from T (α = 0, exact dense) to the target L_t (α = 1), split into a window,
    /// anchors and DNA by a mix that moves from all-local to the piece fractions. Runs with
    /// <see cref="CandidatePolicy.Aligned"/> candidates.
    /// </summary>
    Continuous = 0,

    /// <summary>
    /// The original Python Proteus formulas (docs/flux-attention.md Appendix A), for reproducing its numbers. Runs with
    /// <see cref="CandidatePolicy.Seed"/> candidates.
    /// </summary>
    Seed = 1,
}

/// <summary>How the shortlist target L_t depends on T; the result is clamped to [L_min, L_max].</summary>
public enum ShortlistTarget
{
    /// <summary>L_base.</summary>
    Fixed = 0,

    /// <summary>Continuous: L_base·sqrt(T / switch_ctx). Seed: L_base·sqrt(T).</summary>
    Sqrt = 1,

    /// <summary>Continuous: L_base·log2 T / log2 switch_ctx. Seed: L_base·log2(T + 1).</summary>
    Log = 2,

    /// <summary>
    /// The largest L whose cost fits <see cref="FluxBudgetOptions.CostBudget"/>, so L shrinks as T grows.
    /// Continuous: floor(CostBudget / (T·H·D)). Seed (its "MemCap"): clamp(floor(CostBudget / (H·B·T·D)), 1, L_max).
    /// </summary>
    Budget = 3,
}

/// <summary>The pieces a shortlist may hold besides the query itself (docs/flux-attention.md §3).</summary>
[Flags]
public enum ShortlistPieces
{
    /// <summary>No piece (invalid on its own).</summary>
    None = 0,

    /// <summary>The local window; required by <see cref="BudgetPolicy.Continuous"/>.</summary>
    Local = 1,

    /// <summary>Strided anchor tokens.</summary>
    Anchors = 2,

    /// <summary>DNA tokens picked by salience (the call then needs <see cref="FluxInputs{T}.Salience"/>).</summary>
    Dna = 4,
}

/// <summary>
/// The configuration of a <see cref="FluxBudget"/> (docs/flux-attention.md §4 and Appendix A). Ranges are checked when a
/// value is set and relations between values when the budget is constructed, each with an exception
/// naming the field. A null option is derived as its documentation says; a configured value is used as
/// given, never replaced.
/// </summary>
public sealed record FluxBudgetOptions
{
    /// <summary>The anchor stride both policies use unless configured: 256, the original Proteus value.</summary>
    public const long DefaultAnchorStride = 256;

    /// <summary>The Seed base window W_base unless configured: 512, the original's <c>attn_linear_window</c> default, whatever L_base is.</summary>
    public const long DefaultWindowBase = 512;

    private readonly BudgetPolicy _policy;
    private readonly ShortlistTarget _target;
    private readonly ShortlistPieces _pieces = ShortlistPieces.Local | ShortlistPieces.Anchors;
    private readonly long _baseLength = 512;
    private readonly long? _minLength;
    private readonly long? _maxLength;
    private readonly long? _windowBase = DefaultWindowBase;
    private readonly long _switchContext = AlphaRamp.DefaultSwitchContext;
    private readonly long _anchorStride = DefaultAnchorStride;
    private readonly double _localFraction = 0.6;
    private readonly double _anchorFraction = 0.3;
    private readonly double? _dnaFraction;
    private readonly double? _costBudget;

    /// <summary>The formulas; <see cref="BudgetPolicy.Continuous"/> by default.</summary>
    public BudgetPolicy Policy
    {
        get => _policy;
        init => _policy = OptionChecks.Defined(value, nameof(Policy));
    }

    /// <summary>How the target L_t depends on T; <see cref="ShortlistTarget.Fixed"/> by default.</summary>
    public ShortlistTarget Target
    {
        get => _target;
        init => _target = OptionChecks.Defined(value, nameof(Target));
    }

    /// <summary>The enabled pieces; local and anchors by default (DNA off).</summary>
    public ShortlistPieces Pieces
    {
        get => _pieces;
        init
        {
            const ShortlistPieces All = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna;
            if (value == ShortlistPieces.None || (value & ~All) != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(Pieces), value, "Pieces must be a nonempty combination of Local, Anchors and Dna.");
            }
            _pieces = value;
        }
    }

    /// <summary>L_base ≥ 1, the base of the target schedules; 512 by default.</summary>
    public long BaseLength
    {
        get => _baseLength;
        init => _baseLength = OptionChecks.AtLeast(value, 1, nameof(BaseLength));
    }

    /// <summary>L_min ≥ 1, the smallest target; null (the default) for min(64, L_base).</summary>
    public long? MinLength
    {
        get => _minLength;
        init => _minLength = OptionChecks.AtLeast(value, 1, nameof(MinLength));
    }

    /// <summary>L_max ≥ L_min, the largest target; null (the default) for L_base.</summary>
    public long? MaxLength
    {
        get => _maxLength;
        init => _maxLength = OptionChecks.AtLeast(value, 1, nameof(MaxLength));
    }

    /// <summary>
    /// Seed only: W_base ≥ 1, the base window (the original's <c>attn_linear_window</c>); 512 by default
    /// (<see cref="DefaultWindowBase"/>) whatever L_base is; null for L_base (what the original's value ≤ 0 means).
    /// </summary>
    public long? WindowBase
    {
        get => _windowBase;
        init => _windowBase = OptionChecks.AtLeast(value, 1, nameof(WindowBase));
    }

    /// <summary>Continuous <see cref="ShortlistTarget.Sqrt"/> and <see cref="ShortlistTarget.Log"/> only: switch_ctx ≥ 2, the length where the target reaches L_base; 20000 by default.</summary>
    public long SwitchContext
    {
        get => _switchContext;
        init => _switchContext = OptionChecks.AtLeast(value, 2, nameof(SwitchContext));
    }

    /// <summary>
    /// The anchor stride S ≥ 0; 256 by default (the original Proteus value, for both policies). Continuous
    /// places anchors at the multiples of S before the window, so a row has at most floor((i − W)/S) + 1 of
    /// them: at T below about W + A·S the anchor budget A is not all used. Continuous with anchors
    /// enabled needs S &gt; 0; under Seed, 0 disables anchors (Appendix A).
    /// </summary>
    public long AnchorStride
    {
        get => _anchorStride;
        init => _anchorStride = OptionChecks.AtLeast(value, 0, nameof(AnchorStride));
    }

    /// <summary>f_loc ∈ [0, 1], the local share of the target mix; 0.6 by default.</summary>
    public double LocalFraction
    {
        get => _localFraction;
        init => _localFraction = OptionChecks.InRange(value, 0, 1, nameof(LocalFraction));
    }

    /// <summary>f_anc ∈ [0, 1], the anchor share of the target mix; 0.3 by default.</summary>
    public double AnchorFraction
    {
        get => _anchorFraction;
        init => _anchorFraction = OptionChecks.InRange(value, 0, 1, nameof(AnchorFraction));
    }

    /// <summary>f_dna ∈ [0, 1], the DNA share of the target mix; null (the default) for max(0, 1 − f_loc − f_anc).</summary>
    public double? DnaFraction
    {
        get => _dnaFraction;
        init => _dnaFraction = OptionChecks.InRange(value, 0, 1, nameof(DnaFraction));
    }

    /// <summary>
    /// <see cref="ShortlistTarget.Budget"/> only (and required there): the cost budget, finite and &gt; 0, in
    /// score entries. Continuous: per batch row, T·L·H·D ≤ CostBudget. Seed: per call, H·B·T·L·D ≤
    /// CostBudget; the original's budget of M megabytes at 8 bytes an entry is
    /// <see cref="SeedMemoryBudget"/>(M).
    /// </summary>
    public double? CostBudget
    {
        get => _costBudget;
        init => _costBudget = OptionChecks.Positive(value, nameof(CostBudget));
    }

    /// <summary>The <see cref="CostBudget"/> equal to the original Proteus memory cap of <paramref name="megabytes"/> MB (8 bytes per score entry).</summary>
    /// <param name="megabytes">The cap in MiB, finite and &gt; 0.</param>
    /// <returns>megabytes·2^20 / 8; with it floor(CostBudget / (H·B·T·D)) is bit-for-bit the original's floor(MB·2^20 / (H·B·T·D·8)).</returns>
    public static double SeedMemoryBudget(double megabytes) =>
        OptionChecks.Positive(megabytes, nameof(megabytes)) * (1 << 20) / 8;
}
