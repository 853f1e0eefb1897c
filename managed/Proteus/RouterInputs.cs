namespace Proteus;

/// <summary>
/// The tensors of one router call (<see cref="LayerOps.Router{T}"/>, SPEC §5, §6): the input
/// [B, T, C], the router's weight [G, C], with DNA the state of <see cref="LayerOps.DnaUpdate{T}"/>, and the
/// outputs (absent ones are not written). Everything but <see cref="X"/> is float32.
/// </summary>
/// <typeparam name="T">The element type of <see cref="X"/>: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
public sealed class RouterInputs<T>
    where T : unmanaged
{
    /// <summary>x [B, T, C]: the block's normalised input, as the router sees it.</summary>
    public required TensorView<T> X { get; init; }

    /// <summary>W_r [G, C]: G gates (G ≥ H), no bias.</summary>
    public required TensorView<float> Weight { get; init; }

    /// <summary>DNA: the prototypes P [G, C]; required when <see cref="RouterOptions.Dna"/> is on, else ignored.</summary>
    public TensorView<float>? Prototypes { get; init; }

    /// <summary>DNA: usage [G]; required when <see cref="RouterOptions.Dna"/> is on, else ignored.</summary>
    public TensorView<float>? Usage { get; init; }

    /// <summary>DNA: confidence [G]; required when <see cref="RouterOptions.Dna"/> is on, else ignored.</summary>
    public TensorView<float>? Confidence { get; init; }

    /// <summary>Output p [B, T, G]: the final gate probabilities (after the DNA blend), the Q of <see cref="LayerOps.DnaUpdate{T}"/>.</summary>
    public required TensorView<float> Probs { get; init; }

    /// <summary>Optional output [B, T, H]: per head the sum of its gates' probabilities.</summary>
    public TensorView<float>? HeadProbs { get; init; }

    /// <summary>Optional output [B, T], DNA only: max_g σ_g, the salience flux attention's DNA budget ranks.</summary>
    public TensorView<float>? Salience { get; init; }

    /// <summary>Optional output [B, T]: the token importance that <see cref="LayerOps.SelectRows"/> ranks (§4).</summary>
    public TensorView<float>? Importance { get; init; }
}

/// <summary>
/// The router's options (SPEC §5, §6); values are checked when set
/// (<see cref="ArgumentOutOfRangeException"/> naming the property). H ≤ G and the DNA tensors are checked by
/// the library at the call.
/// </summary>
public sealed record RouterOptions
{
    private readonly int _heads = 1;
    private readonly float _tau = 0.2f;
    private readonly float _theta = 0.25f;
    private readonly float _blend = 0.6f;
    private readonly float _usageBoost;

    /// <summary>H ≥ 1, the heads the gates map to (gate g belongs to head floor(g·H/G)); at most G.</summary>
    public required int Heads
    {
        get => _heads;
        init => _heads = OptionChecks.AtLeast(value, 1, nameof(Heads));
    }

    /// <summary>Whether the DNA blend of §6 runs (then the DNA tensors are required); off by default.</summary>
    public bool Dna { get; init; }

    /// <summary>τ &gt; 0, the temperature of the prototype softmax (0.2).</summary>
    public float Tau
    {
        get => _tau;
        init => _tau = (float)OptionChecks.Positive(value, nameof(Tau));
    }

    /// <summary>θ ∈ [0, 1), the salience below which the DNA blend has no weight (0.25).</summary>
    public float Theta
    {
        get => _theta;
        init => _theta = (float)OptionChecks.InRangeBelow(value, 0, 1, nameof(Theta));
    }

    /// <summary>blend ∈ [0, 1], the DNA weight at full salience (0.6).</summary>
    public float Blend
    {
        get => _blend;
        init => _blend = (float)OptionChecks.InRange(value, 0, 1, nameof(Blend));
    }

    /// <summary>The usage boost ≥ 0 toward little-used gates (0: none).</summary>
    public float UsageBoost
    {
        get => _usageBoost;
        init => _usageBoost = (float)OptionChecks.NonNegative(value, nameof(UsageBoost));
    }

    /// <summary>The options as the C ABI takes them.</summary>
    internal unsafe Interop.ProteusRouterParams ToNative() => new()
    {
        StructSize = (uint)sizeof(Interop.ProteusRouterParams),
        Heads = Heads,
        Dna = Dna ? 1 : 0,
        Tau = Tau,
        Theta = Theta,
        Blend = Blend,
        UsageBoost = UsageBoost,
    };
}
