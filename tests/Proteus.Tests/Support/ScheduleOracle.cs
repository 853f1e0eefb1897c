namespace Proteus.Tests.Support;

/// <summary>The target schedule of the shortlist length L_t (SPEC §4).</summary>
public enum TargetSchedule
{
    /// <summary>L_base.</summary>
    Fixed,

    /// <summary>L_base·sqrt(T/switch_ctx).</summary>
    Sqrt,

    /// <summary>L_base·log2 T / log2 switch_ctx.</summary>
    Log,

    /// <summary>The largest L whose cost T·L·H·D fits the cost budget: floor(budget / (T·H·D)).</summary>
    Budget,
}

/// <summary>The token keep curve keep(T) (SPEC §4).</summary>
public enum KeepCurve
{
    /// <summary>base·sqrt(ref/T), the default.</summary>
    Sqrt,

    /// <summary>base·log2(ref + 1)/log2(T + 1).</summary>
    Log,

    /// <summary>base.</summary>
    Fixed,
}

/// <summary>The Continuous budget configuration (SPEC §4); the defaults are SPEC's with DNA off.</summary>
public sealed record BudgetConfig
{
    /// <summary>The schedule of L_t.</summary>
    public TargetSchedule Target { get; init; } = TargetSchedule.Fixed;

    /// <summary>L_base.</summary>
    public double BaseLength { get; init; } = 512;

    /// <summary>L_min.</summary>
    public double MinLength { get; init; } = 64;

    /// <summary>L_max.</summary>
    public double MaxLength { get; init; } = 512;

    /// <summary>switch_ctx of the Sqrt and Log targets.</summary>
    public long SwitchContext { get; init; } = 20000;

    /// <summary>The cost budget of the Budget target (score entries per batch row).</summary>
    public double CostBudget { get; init; }

    /// <summary>f_loc, f_anc, f_dna as SPEC §4 takes them (2/3, 1/3, 0 with DNA off; 0.6, 0.3, 0.1 with DNA on).</summary>
    public (double Local, double Anchors, double Dna) Fractions { get; init; } = (2.0 / 3, 1.0 / 3, 0);

    /// <summary>Whether the anchor piece is enabled.</summary>
    public bool Anchors { get; init; } = true;

    /// <summary>Whether the DNA piece is enabled.</summary>
    public bool Dna { get; init; }

    /// <summary>SPEC §4's defaults with DNA on: fractions 0.6, 0.3, 0.1.</summary>
    public static BudgetConfig WithDna { get; } = new() { Dna = true, Fractions = (0.6, 0.3, 0.1) };
}

/// <summary>The budgets of one call: the target L_t, the total L, window W, anchors A, DNA K.</summary>
public readonly record struct OracleBudget(double Target, long Length, long Window, long Anchors, long Dna);

/// <summary>The token keep schedule (SPEC §4); defaults base 1, ref 2048, min_ratio 0.2, guard 1.</summary>
public sealed record KeepConfig
{
    /// <summary>keep(T)'s curve.</summary>
    public KeepCurve Curve { get; init; } = KeepCurve.Sqrt;

    /// <summary>base.</summary>
    public double Base { get; init; } = 1;

    /// <summary>ref.</summary>
    public double Reference { get; init; } = 2048;

    /// <summary>min_ratio.</summary>
    public double MinRatio { get; init; } = 0.2;

    /// <summary>guard ≥ 1.</summary>
    public int Guard { get; init; } = 1;
}

/// <summary>The heads-per-token schedule (SPEC §4); defaults (512, 4096, 2, 16), curve 0.25, head_k 2, no nucleus.</summary>
public sealed record HeadsConfig
{
    /// <summary>seq_low.</summary>
    public long SeqLow { get; init; } = 512;

    /// <summary>seq_high.</summary>
    public long SeqHigh { get; init; } = 4096;

    /// <summary>h_min.</summary>
    public int MinHeads { get; init; } = 2;

    /// <summary>h_max.</summary>
    public int MaxHeads { get; init; } = 16;

    /// <summary>c.</summary>
    public double Curve { get; init; } = 0.25;

    /// <summary>head_k.</summary>
    public int HeadK { get; init; } = 2;

    /// <summary>The nucleus top-p, or null for none.</summary>
    public double? NucleusTopP { get; init; }
}

/// <summary>
/// SPEC §4's schedules transcribed formula by formula: α(T), the Continuous budgets, the keep ratio and
/// the heads per token. Written independently of managed/Proteus/Scheduling, which is checked against it.
/// </summary>
public static class ScheduleOracle
{
    /// <summary>α(T) = 0 for T ≤ seq_low; 1 for T ≥ switch_ctx; (T − seq_low)/(switch_ctx − seq_low) between.</summary>
    public static double Alpha(long seqLen, long seqLow, long switchContext)
    {
        if (switchContext <= seqLow)
        {
            throw new ArgumentException("switch_ctx ≤ seq_low is an error (SPEC §4).", nameof(switchContext));
        }
        if (seqLen <= seqLow)
        {
            return 0;
        }
        if (seqLen >= switchContext)
        {
            return 1;
        }
        return (double)(seqLen - seqLow) / (switchContext - seqLow);
    }

    /// <summary>The default seq_low of the α ramp: max(64, D).</summary>
    public static long DefaultSeqLow(int headDim) => Math.Max(64, headDim);

    /// <summary>L_t: the target schedule, clamped to [L_min, L_max].</summary>
    public static double TargetLength(BudgetConfig config, long seqLen, int heads = 1, int headDim = 1)
    {
        double raw = config.Target switch
        {
            TargetSchedule.Fixed => config.BaseLength,
            TargetSchedule.Sqrt => config.BaseLength * Math.Sqrt((double)seqLen / config.SwitchContext),
            TargetSchedule.Log => config.BaseLength * Math.Log2(seqLen) / Math.Log2(config.SwitchContext),
            TargetSchedule.Budget => Math.Floor(config.CostBudget / ((double)seqLen * heads * headDim)),
            _ => throw new ArgumentOutOfRangeException(nameof(config)),
        };
        return Math.Clamp(raw, config.MinLength, config.MaxLength);
    }

    /// <summary>
    /// The Continuous budgets: L = clamp(round((1 − α)·T + α·L_t), 1, T) (half to even), then <see cref="Split"/>.
    /// </summary>
    public static OracleBudget Budget(BudgetConfig config, long seqLen, double alpha, int heads = 1, int headDim = 1)
    {
        double target = TargetLength(config, seqLen, heads, headDim);
        return Split(config, target, Length(seqLen, alpha, target), alpha);
    }

    /// <summary>(1 − α)·T + α·L_t before rounding: where it lies within a rounding error of a half, SPEC's round is ill-conditioned.</summary>
    public static double UnroundedLength(long seqLen, double alpha, double target) => (1 - alpha) * seqLen + alpha * target;

    /// <summary>L = clamp(round((1 − α)·T + α·L_t), 1, T), half to even.</summary>
    public static long Length(long seqLen, double alpha, double target) =>
        (long)Math.Clamp(Math.Round(UnroundedLength(seqLen, alpha, target), MidpointRounding.ToEven), 1, seqLen);

    /// <summary>
    /// The split of L: f with disabled pieces 0, renormalised; mix = (1 − α)·(1, 0, 0) + α·f (a sum of two
    /// distributions, so already normalised); A = floor(L·mix_anc); K = floor(L·mix_dna); W = max(1, L − A − K).
    /// SPEC's "(disabled pieces get 0, renormalise)" is applied to f: renormalising the mix itself would divide
    /// by a sum one rounding error off 1 and move floors that land exactly on an integer (L 5, α 0.6, f_anc 1/3).
    /// </summary>
    public static OracleBudget Split(BudgetConfig config, double target, long length, double alpha)
    {
        double fLocal = config.Fractions.Local;
        double fAnchors = config.Anchors ? config.Fractions.Anchors : 0;
        double fDna = config.Dna ? config.Fractions.Dna : 0;
        double sum = fLocal + fAnchors + fDna;
        double mixAnchors = (1 - alpha) * 0 + alpha * (fAnchors / sum);
        double mixDna = (1 - alpha) * 0 + alpha * (fDna / sum);
        long a = (long)Math.Floor(length * mixAnchors);
        long k = (long)Math.Floor(length * mixDna);
        long w = Math.Max(1, length - a - k);
        return new OracleBudget(target, length, w, a, k);
    }

    /// <summary>keep(T), clamped to [min(min_ratio, base), base].</summary>
    public static double KeepCurveAt(KeepConfig config, long seqLen)
    {
        double keep = config.Curve switch
        {
            KeepCurve.Sqrt => config.Base * Math.Sqrt(config.Reference / seqLen),
            KeepCurve.Log => config.Base * Math.Log2(config.Reference + 1) / Math.Log2(seqLen + 1),
            _ => config.Base,
        };
        return Math.Clamp(keep, Math.Min(config.MinRatio, config.Base), config.Base);
    }

    /// <summary>The keep ratio used: (1 − α)·base + α·keep(T).</summary>
    public static double KeepRatio(KeepConfig config, long seqLen, double alpha) =>
        (1 - alpha) * config.Base + alpha * KeepCurveAt(config, seqLen);

    /// <summary>
    /// Tokens kept per batch row: T when ratio ≥ 0.999, otherwise max(guard, round(ratio·T)) (half to even),
    /// at most T.
    /// </summary>
    public static int KeptTokens(double ratio, int seqLen, int guard)
    {
        if (ratio >= 0.999)
        {
            return seqLen;
        }
        return (int)Math.Min(seqLen, Math.Max(guard, Math.Round(ratio * seqLen, MidpointRounding.ToEven)));
    }

    /// <summary>
    /// k_dense(T): h_max for T ≤ seq_low, h_min for T ≥ seq_high, otherwise
    /// clamp(floor(h_max − r^c·(h_max − h_min) + 1e-6), h_min, h_max), r = (T − seq_low)/(seq_high − seq_low).
    /// </summary>
    public static int DenseHeads(HeadsConfig config, long seqLen)
    {
        if (seqLen <= config.SeqLow)
        {
            return config.MaxHeads;
        }
        if (seqLen >= config.SeqHigh)
        {
            return config.MinHeads;
        }
        double r = (double)(seqLen - config.SeqLow) / (config.SeqHigh - config.SeqLow);
        double k = Math.Floor(config.MaxHeads - Math.Pow(r, config.Curve) * (config.MaxHeads - config.MinHeads) + 1e-6);
        return (int)Math.Clamp(k, config.MinHeads, config.MaxHeads);
    }

    /// <summary>
    /// The heads each kept token of a layer call is computed for: every head at α = 0 (SPEC §5: exact dense, the
    /// router does not cut heads), otherwise <see cref="HeadsPerToken"/>'s k.
    /// </summary>
    public static int ActiveHeadsPerToken(HeadsConfig config, long seqLen, double alpha, int heads, double[]? meanHeadDistribution = null) =>
        alpha == 0 ? heads : HeadsPerToken(config, seqLen, alpha, meanHeadDistribution);

    /// <summary>
    /// k: k_dense(T), lowered by the nucleus when one is configured (the fewest heads, most probable first,
    /// ties to the smaller h, whose share of <paramref name="meanHeadDistribution"/> reaches top-p), then
    /// round((1 − α)·k + α·min(k, head_k)) half to even.
    /// </summary>
    public static int HeadsPerToken(HeadsConfig config, long seqLen, double alpha, double[]? meanHeadDistribution = null)
    {
        int k = DenseHeads(config, seqLen);
        if (config.NucleusTopP is { } topP)
        {
            double[] mean = meanHeadDistribution ?? throw new ArgumentException("The nucleus needs the head distribution.", nameof(meanHeadDistribution));
            int[] order = Enumerable.Range(0, mean.Length).OrderByDescending(h => mean[h]).ThenBy(h => h).ToArray();
            double total = mean.Sum();
            double cumulative = 0;
            int nucleus = mean.Length;
            for (int n = 0; n < order.Length; n++)
            {
                cumulative += mean[order[n]];
                if (cumulative >= topP * total)
                {
                    nucleus = n + 1;
                    break;
                }
            }
            k = Math.Min(k, nucleus);
        }
        return (int)Math.Round((1 - alpha) * k + alpha * Math.Min(k, config.HeadK), MidpointRounding.ToEven);
    }
}
