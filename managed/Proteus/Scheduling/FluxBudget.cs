namespace Proteus;

/// <summary>
/// Derives the shortlist budgets of a call from (T, α) (docs/flux-attention.md §4): the total L, window W, anchors A and
/// DNA K, and from them the call's <see cref="FluxParameters"/>.
/// <para>
/// <see cref="BudgetPolicy.Continuous"/>, with L_t the target (<see cref="ShortlistTarget"/>) scaled by the
/// runtime scale s and clamped to [L_min, L_max], and f the normalised piece fractions:
/// L = clamp(round(T + α·(L_t − T)), 1, T) ((1 − α)·T + α·L_t, written so that it is exactly T at
/// α = 0 and monotone in α under floating point), A = floor(L·α·f_anc), K = floor(L·α·f_dna),
/// W = max(1, L − A − K); round is half to even. At α = 0 this is W = T, A = K = 0: exact dense attention.
/// For a fixed T, as α grows L and W + A + K never grow, and W never grows when at most one of anchors
/// and DNA is enabled; A and K themselves are not monotone (they are shares of a shrinking L).
/// </para>
/// <para><see cref="BudgetPolicy.Seed"/> is docs/flux-attention.md Appendix A (the original Python Proteus formulas) to the letter.</para>
/// </summary>
/// <example>
/// <code>
/// var budget = new FluxBudget();                        // Continuous, L_t = 512, local + anchors
/// ShortlistBudget b = budget.Compute(seqLen: 20000, alpha: 1);
/// // b.Length 512, b.Window 342, b.AnchorCount 170: b.ToFluxParameters() runs it
/// </code>
/// </example>
public sealed class FluxBudget
{
    private static readonly AttentionShape UnitHeads = new(1, 1, 1, 1);

    private readonly bool _local;
    private readonly bool _anchors;
    private readonly bool _dna;

    /// <summary>Creates the budget rule, checking the options against each other.</summary>
    /// <param name="options">The configuration; null for the defaults.</param>
    /// <exception cref="ArgumentException">
    /// The resolved L_max is below L_min; Continuous without the local piece, or with anchors and stride 0;
    /// the Budget target without a cost budget; no enabled piece, or enabled pieces whose fractions are all 0.
    /// </exception>
    public FluxBudget(FluxBudgetOptions? options = null)
    {
        options ??= new FluxBudgetOptions();
        Options = options;
        MinLength = options.MinLength ?? Math.Min(64, options.BaseLength);
        MaxLength = options.MaxLength ?? options.BaseLength;
        WindowBase = options.WindowBase ?? options.BaseLength;
        if (MaxLength < MinLength)
        {
            string field = options.MaxLength is not null ? nameof(FluxBudgetOptions.MaxLength) : nameof(FluxBudgetOptions.MinLength);
            throw new ArgumentException($"L_max ({MaxLength}) must be at least L_min ({MinLength}).", field);
        }

        bool continuous = options.Policy == BudgetPolicy.Continuous;
        _local = options.Pieces.HasFlag(ShortlistPieces.Local);
        _anchors = options.Pieces.HasFlag(ShortlistPieces.Anchors);
        _dna = options.Pieces.HasFlag(ShortlistPieces.Dna);
        if (continuous && !_local)
        {
            throw new ArgumentException("The Continuous policy always has a local window: Pieces must include Local.", nameof(FluxBudgetOptions.Pieces));
        }
        if (_anchors && options.AnchorStride == 0)
        {
            if (continuous)
            {
                throw new ArgumentException("Anchors need AnchorStride > 0 under the Continuous policy.", nameof(FluxBudgetOptions.AnchorStride));
            }
            _anchors = false; // Appendix A: under Seed, stride 0 is how anchors are switched off.
        }
        if (!(_local || _anchors || _dna))
        {
            throw new ArgumentException("No piece is enabled (under Seed, AnchorStride 0 disables anchors).", nameof(FluxBudgetOptions.Pieces));
        }
        if (options.Target == ShortlistTarget.Budget && options.CostBudget is null)
        {
            throw new ArgumentException("The Budget target needs CostBudget.", nameof(FluxBudgetOptions.CostBudget));
        }
        Fractions = Normalise(options);
    }

    /// <summary>The configuration.</summary>
    public FluxBudgetOptions Options { get; }

    /// <summary>L_min in use: <see cref="FluxBudgetOptions.MinLength"/>, or min(64, L_base).</summary>
    public long MinLength { get; }

    /// <summary>L_max in use: <see cref="FluxBudgetOptions.MaxLength"/>, or L_base.</summary>
    public long MaxLength { get; }

    /// <summary>W_base in use (Seed): <see cref="FluxBudgetOptions.WindowBase"/> (512 unless configured), or L_base when it is null.</summary>
    public long WindowBase { get; }

    /// <summary>The target mix: the configured fractions normalised, disabled pieces 0, renormalised.</summary>
    public PieceFractions Fractions { get; }

    /// <summary>
    /// The budgets of a sequence of length <paramref name="seqLen"/> with one head of dim 1 and batch 1,
    /// for every target but <see cref="ShortlistTarget.Budget"/> (whose cost needs the real shape).
    /// </summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <param name="alpha">α ∈ [0, 1].</param>
    /// <param name="scale">The runtime scale s of the target, finite and &gt; 0 (what a budget-scale latency controller moves).</param>
    /// <returns>The budgets.</returns>
    /// <exception cref="InvalidOperationException">The target is <see cref="ShortlistTarget.Budget"/>.</exception>
    public ShortlistBudget Compute(long seqLen, double alpha, double scale = 1)
    {
        if (Options.Target == ShortlistTarget.Budget)
        {
            throw new InvalidOperationException("The Budget target's cost depends on B, H and D: call Compute(AttentionShape, …).");
        }
        return Compute(UnitHeads with { SeqLen = seqLen }, alpha, scale);
    }

    /// <summary>The budgets of a call of shape <paramref name="shape"/> at <paramref name="alpha"/>.</summary>
    /// <param name="shape">B, H, T, D, each ≥ 1 (only the Budget target reads anything but T).</param>
    /// <param name="alpha">α ∈ [0, 1].</param>
    /// <param name="scale">The runtime scale s of the target, finite and &gt; 0.</param>
    /// <returns>The budgets.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is &lt; 1, α is outside [0, 1], or the scale is not finite and &gt; 0.</exception>
    public ShortlistBudget Compute(AttentionShape shape, double alpha, double scale = 1)
    {
        OptionChecks.AtLeast(shape.Batch, 1, nameof(AttentionShape.Batch));
        OptionChecks.AtLeast(shape.Heads, 1, nameof(AttentionShape.Heads));
        OptionChecks.AtLeast(shape.SeqLen, 1, nameof(AttentionShape.SeqLen));
        OptionChecks.AtLeast(shape.HeadDim, 1, nameof(AttentionShape.HeadDim));
        OptionChecks.Alpha(alpha, nameof(alpha));
        OptionChecks.Positive(scale, nameof(scale));
        return Options.Policy == BudgetPolicy.Seed ? Seed(shape, alpha, scale) : Continuous(shape, alpha, scale);
    }

    private ShortlistBudget Continuous(AttentionShape shape, double alpha, double scale)
    {
        long t = shape.SeqLen;
        double lBase = Options.BaseLength;
        double raw = Options.Target switch
        {
            ShortlistTarget.Fixed => lBase,
            ShortlistTarget.Sqrt => lBase * Math.Sqrt((double)t / Options.SwitchContext),
            ShortlistTarget.Log => lBase * Math.Log2(t) / Math.Log2(Options.SwitchContext),
            _ => Math.Floor(Options.CostBudget!.Value / checked(t * shape.Heads * shape.HeadDim)),
        };
        double target = Math.Clamp(scale * raw, MinLength, MaxLength);

        long length = Math.Clamp((long)Math.Round(t + alpha * (target - t), MidpointRounding.ToEven), 1, t);
        long anchors = _anchors ? (long)Math.Floor(length * (alpha * Fractions.Anchors)) : 0;
        long dna = _dna ? (long)Math.Floor(length * (alpha * Fractions.Dna)) : 0;
        long window = Math.Max(1, length - anchors - dna);
        return new ShortlistBudget(BudgetPolicy.Continuous, t, alpha, scale, target, length, window, anchors, dna, window, Options.AnchorStride);
    }

    // docs/flux-attention.md Appendix A, step by step and in its evaluation order, so that the original's floats are reproduced.
    private ShortlistBudget Seed(AttentionShape shape, double alpha, double scale)
    {
        long t = shape.SeqLen;
        long lMin = MinLength, lMax = MaxLength, wBase = WindowBase;
        double c = Math.Max(1, Options.BaseLength);
        double baseLength = Options.Target switch
        {
            ShortlistTarget.Fixed => c,
            ShortlistTarget.Sqrt => c * Math.Sqrt(t),
            ShortlistTarget.Log => c * Math.Log2(t + 1),
            _ => Math.Clamp(Math.Floor(Options.CostBudget!.Value / checked(shape.Heads * shape.Batch * t * shape.HeadDim)), 1, lMax),
        };
        long lTarget = (long)Math.Clamp(Math.Ceiling(scale * Math.Max(1, baseLength)), lMin, lMax);
        long wTarget = Math.Min(wBase, lTarget);
        long lDense = Math.Clamp(Math.Min(t, Math.Max(lMin, wBase + t / 32)), lMin, lMax);
        long length = Math.Clamp((long)(alpha * lTarget + (1 - alpha) * lDense), lMin, lMax);
        long wDense = Math.Max(1, Math.Min(t, Math.Max(wBase, t / 8)));
        long window = Math.Clamp((long)(alpha * wTarget + (1 - alpha) * wDense), 1, length);

        bool[] enabled = [_local, _anchors, _dna];
        double[] dense = [_local ? 0.85 : 0, _anchors ? 0.10 : 0, _dna ? 0.05 : 0];
        double[] tgt = [Fractions.Local, Fractions.Anchors, Fractions.Dna];
        var w = new double[3];
        for (int p = 0; p < 3; p++)
        {
            w[p] = (1 - alpha) * dense[p] + alpha * tgt[p];
        }
        double sum = w[0] + w[1] + w[2];
        if (sum == 0)
        {
            w = [1, 0, 0];
        }
        else
        {
            for (int p = 0; p < 3; p++)
            {
                w[p] /= sum;
            }
        }
        w[2] = Math.Max(0, 1 - w[0] - w[1]);

        var caps = new long[3];
        for (int p = 0; p < 3; p++)
        {
            caps[p] = enabled[p] ? (long)Math.Round(length * w[p], MidpointRounding.ToEven) : 0;
        }
        long total = caps[0] + caps[1] + caps[2];
        if (total > length)
        {
            for (int p = 0; p < 3; p++)
            {
                caps[p] = caps[p] * length / total;
            }
        }
        long remainder = length - (caps[0] + caps[1] + caps[2]);
        for (int p = 0; p < 3 && remainder > 0; p++)
        {
            if (enabled[p])
            {
                caps[p]++;
                remainder--;
            }
        }
        if (remainder > 0)
        {
            caps[Array.IndexOf(enabled, true)] += remainder;
        }
        // With local disabled cap_loc stays 0: the candidate list then has no local piece (Appendix A).
        long localCap = caps[0];
        if (_local)
        {
            localCap = Math.Min(localCap, window);
            if (localCap <= 0 && length > 0)
            {
                localCap = Math.Min(window, Math.Max(1, length / 4));
            }
        }
        long stride = _anchors ? Options.AnchorStride : 0;
        return new ShortlistBudget(BudgetPolicy.Seed, t, alpha, scale, lTarget, length, window, caps[1], caps[2], localCap, stride);
    }

    // Clamp to [0, 1] (the options already hold values there), normalise to sum 1, zero the disabled
    // pieces, renormalise: Appendix A's order, which Continuous shares.
    private PieceFractions Normalise(FluxBudgetOptions options)
    {
        double local = options.LocalFraction;
        double anchors = options.AnchorFraction;
        double dna = options.DnaFraction ?? Math.Max(0, 1 - local - anchors);
        double enabledSum = (_local ? local : 0) + (_anchors ? anchors : 0) + (_dna ? dna : 0);
        if (enabledSum <= 0)
        {
            string field = _local ? nameof(FluxBudgetOptions.LocalFraction) : _anchors ? nameof(FluxBudgetOptions.AnchorFraction) : nameof(FluxBudgetOptions.DnaFraction);
            throw new ArgumentException("The fractions of the enabled pieces are all 0.", field);
        }
        double sum = local + anchors + dna;
        local /= sum;
        anchors /= sum;
        dna /= sum;
        local = _local ? local : 0;
        anchors = _anchors ? anchors : 0;
        dna = _dna ? dna : 0;
        sum = local + anchors + dna;
        return new PieceFractions(local / sum, anchors / sum, dna / sum);
    }
}
