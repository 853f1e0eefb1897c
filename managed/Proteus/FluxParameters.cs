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

    /// <summary>
    /// Seed only: the local slots cap_loc ≥ 0 (n = min(W, L, cap_loc) local keys); 0 is no local piece, C(i)
    /// then holds {i}, anchors and DNA (Appendix A). Ignored by the other policies.
    /// </summary>
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

    /// <summary>
    /// Seed candidates as the original Python builder (<c>build_shortlist_candidates</c>) is called: a cap
    /// left null means "up to L" for an enabled piece, and a disabled piece gets 0 (the local piece off is
    /// cap_loc = 0). A null cap never means 0 here, unlike an unset <see cref="AnchorCount"/> or
    /// <see cref="DnaCount"/> on a plain record.
    /// </summary>
    /// <param name="cap">L ≥ 1, the cap on |C(i)| (the original's <c>max_candidates</c>).</param>
    /// <param name="window">W ≥ 1 (<c>linear_window</c>).</param>
    /// <param name="anchorStride">S ≥ 0 (<c>anchor_stride</c>); 0 disables anchors.</param>
    /// <param name="pieces">The enabled pieces (<c>use_local</c>, <c>use_anchors</c>, and DNA for <c>proto_scores</c> given); the call then needs salience when DNA is on.</param>
    /// <param name="localCap">cap_loc ≥ 0 (<c>local_cap</c>); null: L when local is enabled.</param>
    /// <param name="anchorCap">cap_anc ≥ 0 (<c>anchor_cap</c>); null: L when anchors are enabled.</param>
    /// <param name="dnaCap">cap_dna ≥ 0 (<c>proto_cap</c>); null: L when DNA is enabled.</param>
    /// <returns>The Seed parameters.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range, or <paramref name="pieces"/> is not a combination of the three pieces.</exception>
    /// <exception cref="ArgumentException">A cap is given for a disabled piece (contradictory).</exception>
    public static FluxParameters SeedCandidates(
        long cap, long window, long anchorStride, ShortlistPieces pieces,
        long? localCap = null, long? anchorCap = null, long? dnaCap = null)
    {
        OptionChecks.AtLeast(cap, 1, nameof(cap));
        const ShortlistPieces All = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna;
        if ((pieces & ~All) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pieces), pieces, "Pieces must be a combination of Local, Anchors and Dna.");
        }
        return new FluxParameters
        {
            Policy = CandidatePolicy.Seed,
            SeedCap = cap,
            Window = window,
            AnchorStride = anchorStride,
            SeedLocalCap = PieceCap(pieces, ShortlistPieces.Local, localCap, cap, nameof(localCap)),
            AnchorCount = PieceCap(pieces, ShortlistPieces.Anchors, anchorCap, cap, nameof(anchorCap)),
            DnaCount = PieceCap(pieces, ShortlistPieces.Dna, dnaCap, cap, nameof(dnaCap)),
        };
    }

    private static long PieceCap(ShortlistPieces pieces, ShortlistPieces piece, long? given, long cap, string name)
    {
        if (!pieces.HasFlag(piece))
        {
            return given is null
                ? 0
                : throw new ArgumentException($"{name} is given but the {piece} piece is disabled.", name);
        }
        return OptionChecks.AtLeast(given, 0, name) ?? cap;
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
