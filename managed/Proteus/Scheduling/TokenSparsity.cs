namespace Proteus;

/// <summary>The active rows chosen for one call, and the counts behind them.</summary>
public sealed class ActiveRowSelection
{
    internal ActiveRowSelection(byte[] mask, double keepRatio, int keptTokens, int headsPerToken)
    {
        Mask = mask;
        KeepRatio = keepRatio;
        KeptTokens = keptTokens;
        HeadsPerToken = headsPerToken;
    }

    /// <summary>The uint8 mask [B, H, T] for <see cref="FluxInputs{T}.Active"/>: 1 computes the row, 0 skips it.</summary>
    public byte[] Mask { get; }

    /// <summary>The keep ratio used, (1 − α)·base + α·keep(T).</summary>
    public double KeepRatio { get; }

    /// <summary>The tokens kept in every batch row.</summary>
    public int KeptTokens { get; }

    /// <summary>k, the heads each kept token is computed for.</summary>
    public int HeadsPerToken { get; }
}

/// <summary>
/// Token and head sparsity on the CPU (docs/flux-attention.md §4): how many tokens each batch row keeps, how many heads
/// each kept token is computed for, and the active-row mask that follows from importance scores.
/// <para>
/// Ties are broken toward the smaller index everywhere: among equally important tokens the earlier one is
/// kept, among equally probable heads the lower head wins, and the nucleus orders heads the same way.
/// </para>
/// </summary>
public sealed class TokenSparsity
{
    // docs/flux-attention.md §4: k_dense floors h_max − r^c·(h_max − h_min) plus this, so values a rounding error below an integer land on it.
    private const double DenseHeadsEpsilon = 1e-6;

    /// <summary>SPEC §4: a keep ratio at least this keeps every token.</summary>
    public const double FullRatio = 0.999;

    /// <summary>Creates the schedules, checking the options against each other.</summary>
    /// <param name="keep">The keep ratio schedule; null for the defaults.</param>
    /// <param name="heads">The heads-per-token schedule; null for the defaults.</param>
    /// <exception cref="ArgumentException">SeqHigh ≤ SeqLow, or MaxHeads &lt; MinHeads.</exception>
    public TokenSparsity(TokenKeepOptions? keep = null, HeadsPerTokenOptions? heads = null)
    {
        keep ??= new TokenKeepOptions();
        heads ??= new HeadsPerTokenOptions();
        if (heads.SeqHigh <= heads.SeqLow)
        {
            throw new ArgumentException($"SeqHigh ({heads.SeqHigh}) must be greater than SeqLow ({heads.SeqLow}).", nameof(HeadsPerTokenOptions.SeqHigh));
        }
        if (heads.MaxHeads < heads.MinHeads)
        {
            throw new ArgumentException($"MaxHeads ({heads.MaxHeads}) must be at least MinHeads ({heads.MinHeads}).", nameof(HeadsPerTokenOptions.MaxHeads));
        }
        Keep = keep;
        Heads = heads;
    }

    /// <summary>The keep ratio schedule.</summary>
    public TokenKeepOptions Keep { get; }

    /// <summary>The heads-per-token schedule.</summary>
    public HeadsPerTokenOptions Heads { get; }

    /// <summary>keep(T) of the curve, clamped to [min(min_ratio, base), base].</summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <returns>The ratio.</returns>
    public double KeepCurve(long seqLen)
    {
        OptionChecks.AtLeast(seqLen, 1, nameof(seqLen));
        double b = Keep.Base;
        double keep = Keep.Curve switch
        {
            KeepRatioCurve.Sqrt => b * Math.Sqrt((double)Keep.Reference / seqLen),
            KeepRatioCurve.Log => b * Math.Log2(Keep.Reference + 1.0) / Math.Log2(seqLen + 1.0),
            _ => b,
        };
        return Math.Clamp(keep, Math.Min(Keep.MinRatio, b), b);
    }

    /// <summary>The keep ratio at α: (1 − α)·base + α·keep(T).</summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <param name="alpha">α ∈ [0, 1].</param>
    /// <returns>The ratio.</returns>
    public double KeepRatio(long seqLen, double alpha)
    {
        OptionChecks.Alpha(alpha, nameof(alpha));
        return (1 - alpha) * Keep.Base + alpha * KeepCurve(seqLen);
    }

    /// <summary>The tokens each batch row keeps: T when ratio ≥ 0.999, else round(ratio·T) (half to even), at least min(guard, T), at most T.</summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <param name="alpha">α ∈ [0, 1].</param>
    /// <returns>The count.</returns>
    public int KeptTokens(int seqLen, double alpha) => (int)KeptTokens(seqLen, KeepRatio(seqLen, alpha), Keep.Guard);

    /// <summary>
    /// The tokens a batch row of <paramref name="seqLen"/> keeps at <paramref name="ratio"/> (SPEC §4): all of them
    /// when ratio ≥ 0.999, else round(ratio·T) (half to even), at least min(guard, T), at most T.
    /// </summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <param name="ratio">The keep ratio in (0, 1].</param>
    /// <param name="guard">guard ≥ 1.</param>
    /// <returns>The count.</returns>
    public static long KeptTokens(long seqLen, double ratio, long guard)
    {
        if (ratio >= FullRatio)
        {
            return seqLen;
        }
        double kept = Math.Round(ratio * seqLen, MidpointRounding.ToEven);
        return (long)Math.Clamp(kept, Math.Min(guard, seqLen), seqLen);
    }

    /// <summary>
    /// k_dense(T): h_max for T ≤ seq_low, h_min for T ≥ seq_high, otherwise
    /// clamp(floor(h_max − r^c·(h_max − h_min) + 1e-6), h_min, h_max) with r = (T − seq_low)/(seq_high − seq_low).
    /// </summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <returns>k_dense.</returns>
    public int DenseHeadsPerToken(long seqLen)
    {
        OptionChecks.AtLeast(seqLen, 1, nameof(seqLen));
        if (seqLen <= Heads.SeqLow)
        {
            return Heads.MaxHeads;
        }
        if (seqLen >= Heads.SeqHigh)
        {
            return Heads.MinHeads;
        }
        double r = (double)(seqLen - Heads.SeqLow) / (Heads.SeqHigh - Heads.SeqLow);
        double k = Math.Floor(Heads.MaxHeads - Math.Pow(r, Heads.Curve) * (Heads.MaxHeads - Heads.MinHeads) + DenseHeadsEpsilon);
        return (int)Math.Clamp(k, Heads.MinHeads, Heads.MaxHeads);
    }

    /// <summary>
    /// k: k_dense(T), lowered by the nucleus when configured (the fewest heads whose share of the mean head
    /// distribution reaches top-p), then round((1 − α)·k + α·min(k, head_k)) with round half to even.
    /// </summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <param name="alpha">α ∈ [0, 1].</param>
    /// <param name="meanHeadDistribution">The batch-mean head distribution (one nonnegative value per head, not all 0); read only with a nucleus, and then required.</param>
    /// <returns>k ≥ 1.</returns>
    /// <exception cref="ArgumentException">A nucleus is configured and the distribution is empty, negative, not finite or all 0.</exception>
    public int HeadsPerToken(long seqLen, double alpha, ReadOnlySpan<double> meanHeadDistribution = default)
    {
        OptionChecks.Alpha(alpha, nameof(alpha));
        int k = DenseHeadsPerToken(seqLen);
        if (Heads.NucleusTopP is { } topP)
        {
            k = Math.Min(k, NucleusHeadCount(meanHeadDistribution, topP));
        }
        return (int)Math.Round((1 - alpha) * k + alpha * Math.Min(k, Heads.HeadK), MidpointRounding.ToEven);
    }

    /// <summary>
    /// Chooses the active rows of a call from importance scores: the kept tokens of each batch row
    /// (<see cref="KeptTokens(int, double)"/>), and for each the k most probable heads (<see cref="HeadsPerToken"/>,
    /// with the nucleus over the mean of <paramref name="headProbabilities"/> over all B·T tokens).
    /// </summary>
    /// <param name="importance">Per-token importance [B, T], finite.</param>
    /// <param name="headProbabilities">Per-(token, head) probabilities [B, T, H], finite and nonnegative.</param>
    /// <param name="batch">B ≥ 1.</param>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <param name="heads">H ≥ 1.</param>
    /// <param name="alpha">α ∈ [0, 1].</param>
    /// <returns>The mask [B, H, T] and the counts.</returns>
    public ActiveRowSelection Select(
        ReadOnlySpan<float> importance, ReadOnlySpan<float> headProbabilities, int batch, int seqLen, int heads, double alpha)
    {
        CheckShape(importance, headProbabilities, batch, seqLen, heads);
        double[] mean = new double[heads];
        for (int token = 0; token < batch * seqLen; token++)
        {
            for (int h = 0; h < heads; h++)
            {
                mean[h] += headProbabilities[token * heads + h];
            }
        }
        for (int h = 0; h < heads; h++)
        {
            mean[h] /= (double)batch * seqLen;
        }

        int kept = KeptTokens(seqLen, alpha);
        int k = alpha > 0 ? HeadsPerToken(seqLen, alpha, mean) : heads;  // SPEC §5: at α = 0 the router cuts no head
        byte[] mask = BuildActiveMask(importance, headProbabilities, batch, seqLen, heads, kept, k, Keep.Guard);
        return new ActiveRowSelection(mask, KeepRatio(seqLen, alpha), kept, k);
    }

    /// <summary>
    /// The active-row mask for given counts: in each batch row the first min(guard, T) positions and then
    /// the most important of the others, <paramref name="keptTokens"/> in all; row (b, h, i) is active when
    /// token (b, i) is kept and h is among its <paramref name="headsPerToken"/> most probable heads (all
    /// heads when k ≥ H). Ties go to the smaller position and the smaller head.
    /// </summary>
    /// <param name="importance">Per-token importance [B, T], finite.</param>
    /// <param name="headProbabilities">Per-(token, head) probabilities [B, T, H], finite.</param>
    /// <param name="batch">B ≥ 1.</param>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <param name="heads">H ≥ 1.</param>
    /// <param name="keptTokens">Tokens kept per batch row, in [min(guard, T), T].</param>
    /// <param name="headsPerToken">k ≥ 1.</param>
    /// <param name="guard">guard ≥ 1.</param>
    /// <returns>The mask [B, H, T], 1 for active rows.</returns>
    public static byte[] BuildActiveMask(
        ReadOnlySpan<float> importance, ReadOnlySpan<float> headProbabilities, int batch, int seqLen, int heads,
        int keptTokens, int headsPerToken, int guard)
    {
        CheckShape(importance, headProbabilities, batch, seqLen, heads);
        OptionChecks.AtLeast(guard, 1, nameof(guard));
        OptionChecks.AtLeast(headsPerToken, 1, nameof(headsPerToken));
        int guarded = Math.Min(guard, seqLen);
        ArgumentOutOfRangeException.ThrowIfLessThan(keptTokens, guarded);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keptTokens, seqLen);

        var mask = new byte[batch * heads * seqLen];
        var candidates = new int[seqLen - guarded];
        var headOrder = new int[heads];
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<float> rowImportance = importance.Slice(b * seqLen, seqLen);
            for (int n = 0; n < candidates.Length; n++)
            {
                candidates[n] = guarded + n;
            }
            float[] scores = rowImportance.ToArray();
            Array.Sort(candidates, (x, y) => scores[x] != scores[y] ? scores[y].CompareTo(scores[x]) : x.CompareTo(y));

            var keptPositions = new bool[seqLen];
            for (int i = 0; i < guarded; i++)
            {
                keptPositions[i] = true;
            }
            for (int n = 0; n < keptTokens - guarded; n++)
            {
                keptPositions[candidates[n]] = true;
            }

            for (int i = 0; i < seqLen; i++)
            {
                if (!keptPositions[i])
                {
                    continue;
                }
                float[] p = headProbabilities.Slice((b * seqLen + i) * heads, heads).ToArray();
                for (int h = 0; h < heads; h++)
                {
                    headOrder[h] = h;
                }
                Array.Sort(headOrder, (x, y) => p[x] != p[y] ? p[y].CompareTo(p[x]) : x.CompareTo(y));
                for (int n = 0; n < Math.Min(headsPerToken, heads); n++)
                {
                    mask[(b * heads + headOrder[n]) * seqLen + i] = 1;
                }
            }
        }
        return mask;
    }

    /// <summary>
    /// The nucleus head count: the fewest heads whose share of <paramref name="meanHeadDistribution"/> reaches
    /// <paramref name="topP"/> (heads taken most probable first, the lower head among equals).
    /// </summary>
    /// <param name="meanHeadDistribution">The batch-mean head distribution: one finite, nonnegative value per head, not all 0 (need not sum to 1).</param>
    /// <param name="topP">p ∈ (0, 1].</param>
    /// <returns>The count, in [1, H].</returns>
    /// <exception cref="ArgumentException">The distribution is empty, negative, not finite or all 0.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="topP"/> is outside (0, 1].</exception>
    public static int NucleusHeadCount(ReadOnlySpan<double> meanHeadDistribution, double topP)
    {
        const string Name = nameof(meanHeadDistribution);
        ReadOnlySpan<double> distribution = meanHeadDistribution;
        OptionChecks.PositiveAtMost(topP, 1, nameof(topP));
        if (distribution.IsEmpty)
        {
            throw new ArgumentException("The nucleus needs the mean head distribution.", Name);
        }
        double total = 0;
        foreach (double p in distribution)
        {
            if (!(double.IsFinite(p) && p >= 0))
            {
                throw new ArgumentException("Head probabilities must be finite and nonnegative.", Name);
            }
            total += p;
        }
        if (total <= 0)
        {
            throw new ArgumentException("The head distribution is all 0.", Name);
        }
        double[] values = distribution.ToArray();
        int[] order = Enumerable.Range(0, values.Length).ToArray();
        Array.Sort(order, (x, y) => values[x] != values[y] ? values[y].CompareTo(values[x]) : x.CompareTo(y));
        double cumulative = 0;
        for (int n = 0; n < order.Length; n++)
        {
            cumulative += values[order[n]];
            if (cumulative >= topP * total)
            {
                return n + 1;
            }
        }
        return order.Length; // rounding kept the sum a hair below topP·total: the nucleus is every head
    }

    private static void CheckShape(ReadOnlySpan<float> importance, ReadOnlySpan<float> headProbabilities, int batch, int seqLen, int heads)
    {
        OptionChecks.AtLeast(batch, 1, nameof(batch));
        OptionChecks.AtLeast(seqLen, 1, nameof(seqLen));
        OptionChecks.AtLeast(heads, 1, nameof(heads));
        if (importance.Length != (long)batch * seqLen)
        {
            throw new ArgumentException($"importance has {importance.Length} values, not B·T = {(long)batch * seqLen}.", nameof(importance));
        }
        if (headProbabilities.Length != (long)batch * seqLen * heads)
        {
            throw new ArgumentException($"headProbabilities has {headProbabilities.Length} values, not B·T·H = {(long)batch * seqLen * heads}.", nameof(headProbabilities));
        }
        foreach (float value in importance)
        {
            if (!float.IsFinite(value))
            {
                throw new ArgumentException("Importance scores must be finite.", nameof(importance));
            }
        }
        foreach (float value in headProbabilities)
        {
            if (!float.IsFinite(value))
            {
                throw new ArgumentException("Head probabilities must be finite.", nameof(headProbabilities));
            }
        }
    }
}
