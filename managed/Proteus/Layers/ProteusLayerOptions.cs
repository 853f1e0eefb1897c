namespace Proteus;

/// <summary>RoPE of the attention layer (SPEC §7): on q and k, angle (offset + t)·base^(−2m/D).</summary>
public sealed record RopeOptions
{
    private readonly float _base = 10000f;

    /// <summary>Pairs (2m, 2m + 1) (the original Proteus, default) or (m, m + D/2) (Llama).</summary>
    public RopeConvention Convention { get; init; } = RopeConvention.Interleaved;

    /// <summary>θ base, &gt; 1 (10000).</summary>
    public float Base
    {
        get => _base;
        init => _base = value > 1 && float.IsFinite(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Base), value, "The RoPE base must be a finite number > 1.");
    }
}

/// <summary>DNA (SPEC §6): prototypes that score tokens and steer routing, and their EMA update.</summary>
public sealed record DnaOptions
{
    private readonly float _tau = 0.2f, _theta = 0.25f, _blend = 0.6f, _usageBoost, _decay = 0.97f;

    /// <summary>τ &gt; 0 (0.2): the temperature of the prototype softmax.</summary>
    public float Tau { get => _tau; init => _tau = Check(value, 0, float.PositiveInfinity, nameof(Tau), lowOpen: true); }

    /// <summary>θ in [0, 1) (0.25): the salience from which the blend starts.</summary>
    public float Theta { get => _theta; init => _theta = Check(value, 0, 1, nameof(Theta), highOpen: true); }

    /// <summary>Blend in [0, 1] (0.6): the weight of the prototypes' distribution at full salience.</summary>
    public float Blend { get => _blend; init => _blend = Check(value, 0, 1, nameof(Blend)); }

    /// <summary>Usage boost ≥ 0 (0): mass moved toward little-used gates.</summary>
    public float UsageBoost { get => _usageBoost; init => _usageBoost = Check(value, 0, float.PositiveInfinity, nameof(UsageBoost)); }

    /// <summary>EMA decay d in [0, 1) (0.97).</summary>
    public float Decay { get => _decay; init => _decay = Check(value, 0, 1, nameof(Decay), highOpen: true); }

    private static float Check(float value, float low, float high, string name, bool lowOpen = false, bool highOpen = false)
    {
        bool ok = float.IsFinite(value) && (lowOpen ? value > low : value >= low) && (highOpen ? value < high : value <= high);
        return ok ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in {(lowOpen ? "(" : "[")}{low}, {high}{(highOpen ? ")" : "]")}.");
    }
}

/// <summary>
/// The drop-in attention layer and block (SPEC §7): model width, heads, router gates, RoPE, DNA,
/// token and head sparsity, the flux schedules, biases and norms. Every value is checked where it is
/// set; nothing is silently replaced by a default.
/// </summary>
public sealed record ProteusLayerOptions
{
    private readonly long _modelDim;
    private readonly int _heads;
    private readonly int? _kvHeads, _gates;
    private readonly long? _guardEvery;
    private readonly float _normEps = 1e-5f;

    /// <summary>d_model C, a multiple of <see cref="Heads"/>.</summary>
    public required long ModelDim
    {
        get => _modelDim;
        init => _modelDim = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ModelDim), value, "d_model must be ≥ 1.");
    }

    /// <summary>H query heads; D = C/H.</summary>
    public required int Heads
    {
        get => _heads;
        init => _heads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Heads), value, "H must be ≥ 1.");
    }

    /// <summary>Hkv key/value heads (a divisor of H); null: H.</summary>
    public int? KvHeads
    {
        get => _kvHeads;
        init => _kvHeads = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(KvHeads), value, "Hkv must be ≥ 1.");
    }

    /// <summary>G router gates, ≥ H; null: 2·H (SPEC §5).</summary>
    public int? Gates
    {
        get => _gates;
        init => _gates = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Gates), value, "G must be ≥ 1.");
    }

    /// <summary>RoPE on q and k; null: none.</summary>
    public RopeOptions? Rope { get; init; } = new();

    /// <summary>DNA on (prototypes, blend, salience, update) with these constants; null: off.</summary>
    public DnaOptions? Dna { get; init; }

    /// <summary>Token sparsity (the keep ratio of SPEC §4); null: every token is kept.</summary>
    public TokenKeepOptions? TokenKeep { get; init; }

    /// <summary>
    /// With token sparsity: one guard token per this many tokens (guard = max(1, T / GuardEvery), the
    /// original's T/128), instead of <see cref="TokenKeepOptions.Guard"/>; null: that fixed guard.
    /// </summary>
    public long? GuardEvery
    {
        get => _guardEvery;
        init => _guardEvery = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(GuardEvery), value, "GuardEvery must be ≥ 1.");
    }

    /// <summary>Heads per token (SPEC §4); null: every head of a kept token is active.</summary>
    public HeadsPerTokenOptions? HeadsPerToken { get; init; }

    /// <summary>α from T (or fixed): the flux schedule.</summary>
    public AlphaScheduleOptions Alpha { get; init; } = new();

    /// <summary>Budgets from T and α; null: the defaults (with the DNA piece when DNA is on).</summary>
    public FluxBudgetOptions? Budget { get; init; }

    /// <summary>Biases on the projections (qkv, output, MLP) and on LayerNorm.</summary>
    public bool Bias { get; init; }

    /// <summary>The block's norm: LayerNorm (default) or RMSNorm.</summary>
    public NormKind Norm { get; init; } = NormKind.Layer;

    /// <summary>The norms' eps &gt; 0 (1e-5).</summary>
    public float NormEps
    {
        get => _normEps;
        init => _normEps = value > 0 && float.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(NormEps), value, "eps must be > 0.");
    }

    /// <summary>D = C/H.</summary>
    public long HeadDim => ModelDim / Heads;

    /// <summary>Hkv resolved.</summary>
    public int ResolvedKvHeads => KvHeads ?? Heads;

    /// <summary>G resolved.</summary>
    public int ResolvedGates => Gates ?? 2 * Heads;

    /// <summary>Checks the combination (C a multiple of H, Hkv a divisor of H, G ≥ H, D even with RoPE).</summary>
    /// <exception cref="ArgumentException">A combination that cannot run, naming the option.</exception>
    public void Validate()
    {
        if (ModelDim % Heads != 0)
        {
            throw new ArgumentException($"d_model {ModelDim} is not a multiple of H = {Heads}.", nameof(ModelDim));
        }
        if (Heads % ResolvedKvHeads != 0)
        {
            throw new ArgumentException($"Hkv = {ResolvedKvHeads} does not divide H = {Heads}.", nameof(KvHeads));
        }
        if (ResolvedGates < Heads)
        {
            throw new ArgumentException($"G = {ResolvedGates} gates are fewer than H = {Heads} heads.", nameof(Gates));
        }
        if (Rope is not null && HeadDim % 2 != 0)
        {
            throw new ArgumentException($"RoPE rotates pairs: D = {HeadDim} must be even.", nameof(Rope));
        }
        if (HeadsPerToken is { } heads && heads.MaxHeads > Heads)
        {
            throw new ArgumentException($"At most {heads.MaxHeads} heads per token, but the layer has {Heads}.", nameof(HeadsPerToken));
        }
    }
}
