using Proteus.Interop;

namespace Proteus;

/// <summary>
/// The candidate policy and budgets of a flux attention call (docs/flux-attention.md §3). Values are checked when set
/// (<see cref="ArgumentOutOfRangeException"/> naming the property); relations between them (an anchor
/// stride for anchors, a salience tensor for DNA, a seed cap for <see cref="CandidatePolicy.Seed"/>) are
/// checked by the library at the call. Nothing is ever replaced by a default behind the caller's back.
/// </summary>
/// <example><c>FluxParameters.Dense with { Window = 341, AnchorStride = 256, AnchorCount = 171 }</c></example>
public sealed record FluxParameters
{
    private readonly CandidatePolicy _policy = CandidatePolicy.Aligned;
    private readonly long _window = long.MaxValue / 4;
    private readonly long _anchorStride;
    private readonly long _anchorCount;
    private readonly long _dnaCount;
    private readonly long _seedCap;
    private readonly long _seedLocalCap;
    private readonly float? _scale;

    /// <summary>Dense causal attention: C(i) = [0, i] (the default window covers any sequence, no anchors, no DNA).</summary>
    public static FluxParameters Dense { get; } = new();

    /// <summary>
    /// The caller's lists (<see cref="FluxInputs{T}.CandidateLists"/>) are the candidates; window, anchors, DNA
    /// and seed caps are ignored (docs/explicit-candidates.md).
    /// </summary>
    public static FluxParameters Explicit { get; } = new() { Policy = CandidatePolicy.Explicit };

    /// <summary>How C(i) is built; <see cref="CandidatePolicy.Aligned"/> by default.</summary>
    public CandidatePolicy Policy
    {
        get => _policy;
        init
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(Policy), value, "Not a candidate policy.");
            }
            _policy = value;
        }
    }

    /// <summary>The local window W ≥ 1: the W most recent keys. W ≥ T is dense; the default is larger than any sequence.</summary>
    public long Window
    {
        get => _window;
        init => _window = OptionChecks.AtLeast(value, 1, nameof(Window));
    }

    /// <summary>The anchor stride S ≥ 0; must be &gt; 0 when <see cref="AnchorCount"/> is &gt; 0 (Seed: 0 disables anchors).</summary>
    public long AnchorStride
    {
        get => _anchorStride;
        init => _anchorStride = OptionChecks.AtLeast(value, 0, nameof(AnchorStride));
    }

    /// <summary>The anchor count A ≥ 0 (Seed: the anchor cap).</summary>
    public long AnchorCount
    {
        get => _anchorCount;
        init => _anchorCount = OptionChecks.AtLeast(value, 0, nameof(AnchorCount));
    }

    /// <summary>The DNA count K ≥ 0: the highest-salience positions before the window (Seed: the DNA cap). K &gt; 0 needs <see cref="FluxInputs{T}.Salience"/>.</summary>
    public long DnaCount
    {
        get => _dnaCount;
        init => _dnaCount = OptionChecks.AtLeast(value, 0, nameof(DnaCount));
    }

    /// <summary>Seed only: the cap L on |C(i)|, ≥ 1 under <see cref="CandidatePolicy.Seed"/>; ignored by the other policies (0 = unset).</summary>
    public long SeedCap
    {
        get => _seedCap;
        init => _seedCap = OptionChecks.AtLeast(value, 0, nameof(SeedCap));
    }

    /// <summary>Seed only: the local slots cap_loc, ≥ 1 under <see cref="CandidatePolicy.Seed"/>; ignored by the other policies (0 = unset).</summary>
    public long SeedLocalCap
    {
        get => _seedLocalCap;
        init => _seedLocalCap = OptionChecks.AtLeast(value, 0, nameof(SeedLocalCap));
    }

    /// <summary>The softmax scale, finite and &gt; 0; null (the default) for 1/sqrt(D).</summary>
    public float? Scale
    {
        get => _scale;
        init => _scale = OptionChecks.SoftmaxScale(value, nameof(Scale));
    }

    /// <summary>The parameters as the C ABI takes them.</summary>
    internal unsafe ProteusFluxParams ToNative() => new()
    {
        StructSize = (uint)sizeof(ProteusFluxParams),
        Policy = (int)Policy,
        Window = Window,
        AnchorStride = AnchorStride,
        AnchorCount = AnchorCount,
        DnaCount = DnaCount,
        SeedCap = SeedCap,
        SeedLocalCap = SeedLocalCap,
        Scale = Scale ?? 0f,
        UseDefaultScale = Scale is null ? 1 : 0,
    };
}
