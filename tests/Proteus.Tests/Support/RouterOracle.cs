namespace Proteus.Tests.Support;

/// <summary>DNA hyperparameters (SPEC §6 defaults: τ 0.2, θ 0.25, blend 0.6, usage_boost 0, decay 0.97).</summary>
public sealed record DnaConfig
{
    /// <summary>τ, the temperature of pd.</summary>
    public double Tau { get; init; } = 0.2;

    /// <summary>θ, the salience threshold of β.</summary>
    public double Theta { get; init; } = 0.25;

    /// <summary>blend, the largest weight of pd.</summary>
    public double Blend { get; init; } = 0.6;

    /// <summary>usage_boost.</summary>
    public double UsageBoost { get; init; }

    /// <summary>d, the EMA decay of the update.</summary>
    public double Decay { get; init; } = 0.97;
}

/// <summary>The DNA state of one layer: prototypes P [G, C], usage [G], confidence [G] (SPEC §6).</summary>
public sealed class DnaState(double[] prototypes, double[] usage, double[] confidence)
{
    /// <summary>P [G, C], row-major.</summary>
    public double[] Prototypes { get; } = prototypes;

    /// <summary>usage [G].</summary>
    public double[] Usage { get; } = usage;

    /// <summary>confidence [G].</summary>
    public double[] Confidence { get; } = confidence;

    /// <summary>G.</summary>
    public int Gates => Usage.Length;

    /// <summary>A deep copy.</summary>
    public DnaState Clone() => new((double[])Prototypes.Clone(), (double[])Usage.Clone(), (double[])Confidence.Clone());
}

/// <summary>
/// The router's result for x [B, T, C]: the final gate probabilities p [B·T, G], the head probabilities
/// [B·T, H], and with DNA on the salience and β per token [B·T] (null with DNA off), and importance [B·T].
/// </summary>
public sealed record RouterResult(double[] GateProbabilities, double[] HeadProbabilities, double[]? Salience, double[]? Beta, double[] Importance);

/// <summary>
/// SPEC §5 (router), §6 (DNA blend and update) and the token and head selection of §4–§5, in float64,
/// one token at a time exactly as the formulas are written.
/// </summary>
public static class RouterOracle
{
    /// <summary>The head of gate g: floor(g·H/G).</summary>
    public static int HeadOfGate(int gate, int gates, int heads) => (int)((long)gate * heads / gates);

    /// <summary>
    /// Routes the tokens x [tokens, C] with W_r [G, C]: p_router = softmax(x·W_rᵀ); with <paramref name="dna"/>
    /// the blend of §6; head_probs = the sum of each head's gates of the final p; importance = max_g p
    /// (DNA off) or max_g p·(1 − β) + salience·β (DNA on), with p the final p.
    /// </summary>
    public static RouterResult Route(double[] x, int tokens, int width, double[] router, int gates, int heads, DnaState? dna = null, DnaConfig? dnaConfig = null)
    {
        LayerOracle.CheckLength(router, (long)gates * width, nameof(router));
        double[] logits = LayerOracle.Linear(x, router, null, tokens, width, gates);
        var p = new double[(long)tokens * gates];
        var headProbs = new double[(long)tokens * heads];
        var importance = new double[tokens];
        double[]? salience = dna is null ? null : new double[tokens];
        double[]? beta = dna is null ? null : new double[tokens];
        dnaConfig ??= new DnaConfig();
        for (int t = 0; t < tokens; t++)
        {
            double[] pt = LayerOracle.Softmax(logits.AsSpan(t * gates, gates));
            double maxP;
            if (dna is null)
            {
                maxP = pt.Max();
                importance[t] = maxP;
            }
            else
            {
                (pt, salience![t], beta![t]) = Blend(x.AsSpan(t * width, width), pt, dna, dnaConfig);
                importance[t] = pt.Max() * (1 - beta[t]) + salience[t] * beta[t];
            }
            for (int g = 0; g < gates; g++)
            {
                p[(long)t * gates + g] = pt[g];
                headProbs[(long)t * heads + HeadOfGate(g, gates, heads)] += pt[g];
            }
        }
        return new RouterResult(p, headProbs, salience, beta, importance);
    }

    /// <summary>The DNA routing blend of one token (SPEC §6): the final p, salience and β.</summary>
    public static (double[] P, double Salience, double Beta) Blend(ReadOnlySpan<double> x, double[] pRouter, DnaState dna, DnaConfig config)
    {
        int gates = dna.Gates;
        int width = x.Length;
        double xNorm = Math.Max(Norm(x), 1e-6);
        var sigma = new double[gates];
        for (int g = 0; g < gates; g++)
        {
            ReadOnlySpan<double> pg = dna.Prototypes.AsSpan(g * width, width);
            double pNorm = Math.Max(Norm(pg), 1e-6);
            double dot = 0;
            for (int c = 0; c < width; c++)
            {
                dot += x[c] / xNorm * (pg[c] / pNorm);
            }
            sigma[g] = dot;
        }
        double salience = sigma.Max();

        double[] pd = LayerOracle.Softmax(sigma.Select(s => s / config.Tau).ToArray());
        for (int g = 0; g < gates; g++)
        {
            pd[g] *= dna.Confidence[g] + 1e-6;
        }
        double pdSum = Math.Max(pd.Sum(), 1e-6);
        for (int g = 0; g < gates; g++)
        {
            pd[g] /= pdSum;
        }

        double beta = Math.Clamp((salience - config.Theta) / Math.Max(1e-6, 1 - config.Theta), 0, 1);
        double w = config.Blend * beta;
        var p = new double[gates];
        for (int g = 0; g < gates; g++)
        {
            p[g] = (1 - w) * pRouter[g] + w * pd[g];
        }
        if (config.UsageBoost > 0)
        {
            double[] boost = LayerOracle.Softmax(dna.Usage.Select(u => -(u + 1e-6)).ToArray());
            for (int g = 0; g < gates; g++)
            {
                p[g] += boost[g] * (1 - beta) * config.UsageBoost;
            }
        }
        double positive = Math.Max(p.Sum(v => Math.Max(v, 0)), 1e-6);
        for (int g = 0; g < gates; g++)
        {
            p[g] = Math.Max(p[g], 0) / positive;
        }
        return (p, salience, beta);
    }

    /// <summary>
    /// The DNA update (SPEC §6) in place, over the rows X [rows, C] and their final gate probabilities
    /// Q [rows, G]: n_g = Σ Q[:, g]; a gate with n_g &gt; 1e-6 moves P_g toward the Q-weighted mean of X and adds
    /// (1 − d)·n_g to usage and (1 − d) to confidence; the others keep P_g and decay usage and confidence.
    /// </summary>
    public static void Update(DnaState dna, double[] x, double[] q, int rows, int width, double decay = 0.97)
    {
        int gates = dna.Gates;
        LayerOracle.CheckLength(x, (long)rows * width, nameof(x));
        LayerOracle.CheckLength(q, (long)rows * gates, nameof(q));
        for (int g = 0; g < gates; g++)
        {
            double n = 0;
            for (int r = 0; r < rows; r++)
            {
                n += q[(long)r * gates + g];
            }
            if (n > 1e-6)
            {
                for (int c = 0; c < width; c++)
                {
                    double weighted = 0;
                    for (int r = 0; r < rows; r++)
                    {
                        weighted += q[(long)r * gates + g] * x[(long)r * width + c];
                    }
                    dna.Prototypes[g * width + c] = decay * dna.Prototypes[g * width + c] + (1 - decay) * weighted / n;
                }
                dna.Usage[g] = decay * dna.Usage[g] + (1 - decay) * n;
                dna.Confidence[g] = decay * dna.Confidence[g] + (1 - decay);
            }
            else
            {
                dna.Usage[g] = decay * dna.Usage[g];
                dna.Confidence[g] = decay * dna.Confidence[g];
            }
        }
    }

    /// <summary>
    /// The kept tokens of one batch row: the first min(guard, T) positions, then the keep − min(guard, T)
    /// most important of the other positions (ties to the smaller t). Returns kept[t].
    /// </summary>
    public static bool[] KeptTokens(ReadOnlySpan<double> importance, int keep, int guard)
    {
        int seqLen = importance.Length;
        int guarded = Math.Min(guard, seqLen);
        var kept = new bool[seqLen];
        for (int t = 0; t < guarded; t++)
        {
            kept[t] = true;
        }
        double[] scores = importance.ToArray();
        foreach (int t in Enumerable.Range(guarded, seqLen - guarded).OrderByDescending(t => scores[t]).ThenBy(t => t).Take(keep - guarded))
        {
            kept[t] = true;
        }
        return kept;
    }

    /// <summary>The k most probable heads of one token (ties to the smaller h); all heads when k ≥ H.</summary>
    public static bool[] TopHeads(ReadOnlySpan<double> headProbabilities, int k)
    {
        double[] p = headProbabilities.ToArray();
        var top = new bool[p.Length];
        foreach (int h in Enumerable.Range(0, p.Length).OrderByDescending(h => p[h]).ThenBy(h => h).Take(k))
        {
            top[h] = true;
        }
        return top;
    }

    /// <summary>
    /// active [B, H, T]: row (b, h, t) is active when token (b, t) is among the <paramref name="keep"/>
    /// kept tokens of its batch row and h among its <paramref name="k"/> most probable heads.
    /// importance [B, T], headProbabilities [B, T, H].
    /// </summary>
    public static bool[] Active(double[] importance, double[] headProbabilities, int batch, int seqLen, int heads, int keep, int guard, int k)
    {
        var active = new bool[(long)batch * heads * seqLen];
        for (int b = 0; b < batch; b++)
        {
            bool[] kept = KeptTokens(importance.AsSpan(b * seqLen, seqLen), keep, guard);
            for (int t = 0; t < seqLen; t++)
            {
                if (!kept[t])
                {
                    continue;
                }
                bool[] top = TopHeads(headProbabilities.AsSpan((b * seqLen + t) * heads, heads), k);
                for (int h = 0; h < heads; h++)
                {
                    active[((long)b * heads + h) * seqLen + t] = top[h];
                }
            }
        }
        return active;
    }

    private static double Norm(ReadOnlySpan<double> v)
    {
        double sum = 0;
        foreach (double e in v)
        {
            sum += e * e;
        }
        return Math.Sqrt(sum);
    }
}
