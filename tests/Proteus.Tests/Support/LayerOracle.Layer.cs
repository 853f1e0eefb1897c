using Proteus.Tests.Reference;

namespace Proteus.Tests.Support;

/// <summary>
/// The drop-in attention layer's configuration (SPEC §7): C = <paramref name="Width"/>, H, Hkv, D = C/H.
/// Everything else has SPEC's default.
/// </summary>
public sealed record AttentionLayerConfig(int Width, int Heads, int KvHeads)
{
    /// <summary>D = C/H.</summary>
    public int HeadDim => Width / Heads;

    /// <summary>G, the router's gates; 0 (the default) for 2·H.</summary>
    public int Gates { get; init; }

    /// <summary>G in use.</summary>
    public int GateCount => Gates > 0 ? Gates : 2 * Heads;

    /// <summary>The RoPE pairing.</summary>
    public RopeConvention Rope { get; init; } = RopeConvention.Interleaved;

    /// <summary>The RoPE base.</summary>
    public double RopeBase { get; init; } = 10000;

    /// <summary>The position of token 0 (pos = offset + t).</summary>
    public long PositionOffset { get; init; }

    /// <summary>An explicit α (authoritative); null for the automatic ramp.</summary>
    public double? Alpha { get; init; }

    /// <summary>seq_low of the α ramp; null for max(64, D).</summary>
    public long? AlphaSeqLow { get; init; }

    /// <summary>switch_ctx of the α ramp.</summary>
    public long SwitchContext { get; init; } = 20000;

    /// <summary>The Continuous budget; null for SPEC's defaults (with DNA on: fractions 0.6, 0.3, 0.1 and the DNA piece).</summary>
    public BudgetConfig? Budget { get; init; }

    /// <summary>The anchor stride S.</summary>
    public long AnchorStride { get; init; } = 256;

    /// <summary>The token keep schedule; null switches token sparsity off (every token kept).</summary>
    public KeepConfig? Keep { get; init; } = new();

    /// <summary>The heads-per-token schedule.</summary>
    public HeadsConfig HeadsPerToken { get; init; } = new();

    /// <summary>The DNA hyperparameters; null switches DNA off.</summary>
    public DnaConfig? Dna { get; init; }

    /// <summary>Multiply o[b, h, t] by head_probs[b, t, h].</summary>
    public bool Gated { get; init; }

    /// <summary>The softmax scale; null for 1/sqrt(D).</summary>
    public double? Scale { get; init; }

    /// <summary>The budget configuration in use.</summary>
    public BudgetConfig BudgetInUse => Budget ?? (Dna is null ? new BudgetConfig() : BudgetConfig.WithDna);
}

/// <summary>
/// The layer's weights: W_qkv [(H + 2·Hkv)·D, C] (q, k, v rows in that order), b_qkv [(H + 2·Hkv)·D] or null,
/// W_r [G, C], W_o [C, H·D], b_o [C] or null.
/// </summary>
public sealed record AttentionLayerWeights(double[] Qkv, double[]? QkvBias, double[] Router, double[] Output, double[]? OutputBias);

/// <summary>
/// One layer call and everything the layer decided on the way: y [B, T, C]; α; the budgets; the keep ratio,
/// tokens kept per batch row and heads per token; the routing (p, head_probs, salience, β, importance, all
/// per token b·T + t); active [B, H, T]; q, k after RoPE and v ([B, H, T, D], [B, Hkv, T, D]); the
/// attention output o [B, H, T, D] after dropping and gating.
/// </summary>
public sealed record AttentionLayerTrace(
    double[] Y, double Alpha, OracleBudget Budget, double KeepRatio, int KeptTokens, int HeadsPerToken,
    RouterResult Routing, bool[] Active, double[] Query, double[] Key, double[] Value, double[] Attention);

/// <summary>The block's norm (SPEC §7).</summary>
public enum BlockNorm
{
    /// <summary>LayerNorm, the default.</summary>
    LayerNorm,

    /// <summary>RMSNorm.</summary>
    RmsNorm,
}

/// <summary>The block's configuration: the layer, the norm and its eps (1e-5).</summary>
public sealed record AttentionBlockConfig(AttentionLayerConfig Layer)
{
    /// <summary>norm1 and norm2.</summary>
    public BlockNorm Norm { get; init; } = BlockNorm.LayerNorm;

    /// <summary>The norms' eps.</summary>
    public double Eps { get; init; } = 1e-5;
}

/// <summary>
/// The block's weights: the layer; norm1 and norm2 weight and bias [C] or null (bias is ignored by RMSNorm);
/// fc1 [4C, C] + [4C], fc2 [C, 4C] + [C] (biases may be null).
/// </summary>
public sealed record AttentionBlockWeights(
    AttentionLayerWeights Layer,
    double[]? Norm1Weight, double[]? Norm1Bias, double[]? Norm2Weight, double[]? Norm2Bias,
    double[] Fc1, double[]? Fc1Bias, double[] Fc2, double[]? Fc2Bias);

/// <summary>
/// Readings of SPEC where it leaves a choice, made once here for every comparison against the oracle:
/// <list type="bullet">
/// <item>Token keep (§4): keep = T when ratio ≥ 0.999, else min(T, max(guard, round(ratio·T))); the first
/// min(guard, T) positions are kept, then the keep − min(guard, T) most important of the other positions
/// (ties to the smaller t), so exactly keep tokens. (The original Python took the top keep of all tokens
/// and then added the guard positions, up to keep + guard tokens.)</item>
/// <item>Importance (§4) uses the final p, after the DNA blend: max_g p·(1 − β) + salience·β, as the
/// original's gate_max of its blended gate probabilities.</item>
/// <item>Heads (§5): at α = 0 every head of a kept token is active whatever k_dense(T) is; otherwise the
/// k of §4 (with the nucleus over the batch-mean of head_probs when configured).</item>
/// <item>Budget mix (§4): "disabled pieces get 0, renormalise" is applied to the piece fractions f, so
/// mix_anc = α·f_anc exactly (see <see cref="ScheduleOracle.Split"/>).</item>
/// <item>The router and DNA see the layer's input (norm1(x) inside the block); the DNA update uses that
/// input and the final p, after the call's own blend.</item>
/// <item>Dna(i) ranks the float32 salience (§6's DNA math is float32), ties to the larger j.</item>
/// </list>
/// </summary>
public static partial class LayerOracle
{
    /// <summary>
    /// The attention layer of SPEC §7 on x [B, T, C]. With <paramref name="dna"/> the layer routes through
    /// the DNA blend (config.Dna must be set); with <paramref name="updateDna"/> the state is then updated
    /// in place from x and the final p.
    /// </summary>
    public static AttentionLayerTrace Layer(
        AttentionLayerConfig config, AttentionLayerWeights weights, double[] x, int batch, int seqLen,
        DnaState? dna = null, bool updateDna = false)
    {
        int c = config.Width, h = config.Heads, hkv = config.KvHeads, d = config.HeadDim, g = config.GateCount;
        if (c % h != 0 || h % hkv != 0)
        {
            throw new ArgumentException($"C ({c}) must be a multiple of H ({h}) and H of Hkv ({hkv}).", nameof(config));
        }
        if ((config.Dna is null) != (dna is null))
        {
            throw new ArgumentException("DNA needs both config.Dna and a state.", nameof(dna));
        }
        int tokens = batch * seqLen;
        CheckLength(x, (long)tokens * c, nameof(x));

        // qkv = x·W_qkvᵀ (+ b): [B·T, (H + 2·Hkv)·D], split into q [B, H, T, D] and k, v [B, Hkv, T, D].
        int qkvWidth = (h + 2 * hkv) * d;
        double[] qkv = Linear(x, weights.Qkv, weights.QkvBias, tokens, c, qkvWidth);
        double[] q = Heads(qkv, batch, seqLen, qkvWidth, 0, h, d);
        double[] k = Heads(qkv, batch, seqLen, qkvWidth, h * d, hkv, d);
        double[] v = Heads(qkv, batch, seqLen, qkvWidth, (h + hkv) * d, hkv, d);
        Rope(q, batch, h, seqLen, d, config.Rope, config.RopeBase, config.PositionOffset);
        Rope(k, batch, hkv, seqLen, d, config.Rope, config.RopeBase, config.PositionOffset);

        RouterResult routing = RouterOracle.Route(x, tokens, c, weights.Router, g, h, dna, config.Dna);

        double alpha = config.Alpha ?? ScheduleOracle.Alpha(seqLen, config.AlphaSeqLow ?? ScheduleOracle.DefaultSeqLow(d), config.SwitchContext);
        OracleBudget budget = ScheduleOracle.Budget(config.BudgetInUse, seqLen, alpha, h, d);
        double keepRatio = config.Keep is { } keep ? ScheduleOracle.KeepRatio(keep, seqLen, alpha) : 1;
        int kept = ScheduleOracle.KeptTokens(keepRatio, seqLen, config.Keep?.Guard ?? 1);
        var meanHeads = new double[h];
        for (int n = 0; n < tokens; n++)
        {
            for (int head = 0; head < h; head++)
            {
                meanHeads[head] += routing.HeadProbabilities[(long)n * h + head] / tokens;
            }
        }
        int headsPerToken = ScheduleOracle.ActiveHeadsPerToken(config.HeadsPerToken, seqLen, alpha, h, meanHeads);
        bool[] active = RouterOracle.Active(routing.Importance, routing.HeadProbabilities, batch, seqLen, h, kept, config.Keep?.Guard ?? 1, headsPerToken);

        var parameters = new FluxParameters
        {
            Policy = CandidatePolicy.Aligned,
            Window = budget.Window,
            AnchorStride = config.AnchorStride,
            AnchorCount = budget.Anchors,
            DnaCount = budget.Dna,
        };
        // CandidateSets ranks float32 salience, as the native kernels do (SPEC §6: DNA math is float32); without DNA, K = 0 and it is unread.
        float[] salience = routing.Salience is { } s ? Array.ConvertAll(s, e => (float)e) : new float[tokens];
        var inputs = new ReferenceInputs(batch, h, hkv, seqLen, d, q, k, v, active, config.Scale ?? 1 / Math.Sqrt(d));
        double[] o = ReferenceAttention.Compute(inputs, (b, i) => CandidateSets.Of(
            parameters, seqLen, salience.AsSpan(b * seqLen, seqLen), i)).Output;

        // Inactive rows are already 0 (so are dropped tokens); gated scales by head_probs; y = concat_heads(o)·W_oᵀ (+ b).
        var concat = new double[(long)tokens * h * d];
        for (int b = 0; b < batch; b++)
        {
            for (int head = 0; head < h; head++)
            {
                for (int t = 0; t < seqLen; t++)
                {
                    long row = (((long)b * h + head) * seqLen + t) * d;
                    double gate = config.Gated ? routing.HeadProbabilities[((long)b * seqLen + t) * h + head] : 1;
                    for (int e = 0; e < d; e++)
                    {
                        o[row + e] *= gate;
                        concat[((long)b * seqLen + t) * h * d + head * d + e] = o[row + e];
                    }
                }
            }
        }
        double[] y = Linear(concat, weights.Output, weights.OutputBias, tokens, h * d, c);

        if (updateDna)
        {
            RouterOracle.Update(dna ?? throw new ArgumentException("updateDna needs a DNA state.", nameof(dna)),
                x, routing.GateProbabilities, tokens, c, config.Dna!.Decay);
        }
        return new AttentionLayerTrace(y, alpha, budget, keepRatio, kept, headsPerToken, routing, active, q, k, v, o);
    }

    /// <summary>
    /// The block (SPEC §7, pre-norm): h = x + layer(norm1(x)); out = h + fc2(GELU(fc1(norm2(h)))).
    /// The layer (and so its router and DNA) sees norm1(x).
    /// </summary>
    public static double[] Block(
        AttentionBlockConfig config, AttentionBlockWeights weights, double[] x, int batch, int seqLen,
        DnaState? dna = null, bool updateDna = false)
    {
        int c = config.Layer.Width, tokens = batch * seqLen;
        double[] Norm(double[] input, double[]? weight, double[]? bias) => config.Norm == BlockNorm.LayerNorm
            ? LayerNorm(input, tokens, c, weight, bias, config.Eps)
            : RmsNorm(input, tokens, c, weight, config.Eps);

        double[] attention = Layer(config.Layer, weights.Layer, Norm(x, weights.Norm1Weight, weights.Norm1Bias), batch, seqLen, dna, updateDna).Y;
        double[] hidden = Add(x, attention);
        double[] inner = Gelu(Linear(Norm(hidden, weights.Norm2Weight, weights.Norm2Bias), weights.Fc1, weights.Fc1Bias, tokens, c, 4 * c));
        return Add(hidden, Linear(inner, weights.Fc2, weights.Fc2Bias, tokens, 4 * c, c));
    }

    /// <summary>The heads [start, start + count·D) of each row of a [B, T, width] tensor, as [B, count, T, D].</summary>
    private static double[] Heads(double[] rows, int batch, int seqLen, int width, int start, int count, int headDim)
    {
        var heads = new double[(long)batch * count * seqLen * headDim];
        for (int b = 0; b < batch; b++)
        {
            for (int head = 0; head < count; head++)
            {
                for (int t = 0; t < seqLen; t++)
                {
                    Array.Copy(rows, ((long)b * seqLen + t) * width + start + head * headDim,
                        heads, (((long)b * count + head) * seqLen + t) * headDim, headDim);
                }
            }
        }
        return heads;
    }

    private static double[] Add(double[] a, double[] b)
    {
        var sum = new double[a.Length];
        for (int n = 0; n < a.Length; n++)
        {
            sum[n] = a[n] + b[n];
        }
        return sum;
    }
}
