using Proteus.Tests.Support;

namespace Proteus.Tests.Oracle;

/// <summary>The oracle's layer and block: α = 0 against naive causal attention, and the sparse paths by hand.</summary>
[TestFixture]
public sealed class LayerOracleTests
{
    private const int B = 2, C = 32, H = 4, Hkv = 2, D = C / H;

    [TestCase(12, null, RopeConvention.Interleaved, 0L)]
    [TestCase(12, null, RopeConvention.HalfSplit, 7L)]
    [TestCase(80, 0.0, RopeConvention.Interleaved, 3L)]    // T > seq_low: α = 0 only when set explicitly
    public void AtAlphaZeroTheLayerIsCausalMultiHeadAttention(int seqLen, double? alpha, RopeConvention rope, long offset)
    {
        var config = new AttentionLayerConfig(C, H, Hkv) { Alpha = alpha, Rope = rope, PositionOffset = offset };
        AttentionLayerWeights weights = Weights(config, new Random(seqLen), biases: true);
        double[] x = Random(new Random(100 + seqLen), B * seqLen * C);

        AttentionLayerTrace trace = LayerOracle.Layer(config, weights, x, B, seqLen);
        Assert.That(trace.Alpha, Is.EqualTo(0));
        Assert.That(trace.Budget.Window, Is.EqualTo(seqLen), "α = 0 is dense");
        Assert.That(trace.Active, Is.All.True, "every head of every token");
        Assert.That(trace.Y, Is.EqualTo(NaiveCausalLayer(weights, x, seqLen, rope, offset)).Within(1e-12));
    }

    [Test]
    public void DroppedTokensEmitTheOutputBiasAndKeptTokensTheirKMostProbableHeads()
    {
        const int T = 40;
        var config = new AttentionLayerConfig(C, H, Hkv)
        {
            Alpha = 1,
            Keep = new KeepConfig { Curve = KeepCurve.Fixed, Base = 0.5, Guard = 3 },
            HeadsPerToken = new HeadsConfig { HeadK = 2 },
        };
        AttentionLayerWeights weights = Weights(config, new Random(7), biases: true);
        AttentionLayerTrace trace = LayerOracle.Layer(config, weights, Random(new Random(8), B * T * C), B, T);

        Assert.That((trace.KeepRatio, trace.KeptTokens, trace.HeadsPerToken), Is.EqualTo((0.5, 20, 2)));
        for (int b = 0; b < B; b++)
        {
            int kept = 0;
            for (int t = 0; t < T; t++)
            {
                int heads = Enumerable.Range(0, H).Count(h => trace.Active[(b * H + h) * T + t]);
                Assert.That(heads, Is.EqualTo(0).Or.EqualTo(2), $"token ({b}, {t})");
                kept += heads > 0 ? 1 : 0;
                if (t < 3)
                {
                    Assert.That(heads, Is.EqualTo(2), "the guard positions are kept");
                }
                if (heads == 0)
                {
                    Assert.That(trace.Y.Skip((b * T + t) * C).Take(C), Is.EqualTo(weights.OutputBias), "o = 0, y = b_o");
                }
            }
            Assert.That(kept, Is.EqualTo(20));
        }
    }

    [Test]
    public void AtAlphaOneEachRowAttendsToItsShortlist()
    {
        // L_t = 4, T 32, α 1: L 4, A floor(4/3) = 1, W 3, S 8. Row 20: local 18, 19, 20; the largest
        // multiple of 8 ≤ 20 − 3 = 17 is 16: C(20) = {16, 18, 19, 20}.
        const int T = 32;
        var config = new AttentionLayerConfig(C, H, Hkv)
        {
            Alpha = 1,
            AnchorStride = 8,
            Budget = new BudgetConfig { BaseLength = 4, MinLength = 4, MaxLength = 4 },
            Keep = null,
            HeadsPerToken = new HeadsConfig { HeadK = H },
        };
        AttentionLayerWeights weights = Weights(config, new Random(9), biases: false);
        AttentionLayerTrace trace = LayerOracle.Layer(config, weights, Random(new Random(10), B * T * C), B, T);
        Assert.That(trace.Budget, Is.EqualTo(new OracleBudget(4, 4, 3, 1, 0)));
        Assert.That(trace.Active, Is.All.True);

        for (int b = 0; b < B; b++)
        {
            for (int h = 0; h < H; h++)
            {
                double[] expected = AttentionOver(trace, b, h, 20, T, [16, 18, 19, 20]);
                Assert.That(trace.Attention.Skip(((b * H + h) * T + 20) * D).Take(D), Is.EqualTo(expected).Within(1e-12));
            }
        }
    }

    [Test]
    public void GatedScalesEachHeadByItsProbability()
    {
        const int T = 10;
        var config = new AttentionLayerConfig(C, H, Hkv);
        AttentionLayerWeights weights = Weights(config, new Random(11), biases: false);
        double[] x = Random(new Random(12), B * T * C);
        AttentionLayerTrace plain = LayerOracle.Layer(config, weights, x, B, T);
        AttentionLayerTrace gated = LayerOracle.Layer(config with { Gated = true }, weights, x, B, T);
        for (int b = 0; b < B; b++)
        {
            for (int h = 0; h < H; h++)
            {
                for (int t = 0; t < T; t++)
                {
                    double p = plain.Routing.HeadProbabilities[(b * T + t) * H + h];
                    long row = ((long)(b * H + h) * T + t) * D;
                    Assert.That(gated.Attention.Skip((int)row).Take(D), Is.EqualTo(plain.Attention.Skip((int)row).Take(D).Select(v => v * p)).Within(1e-15));
                }
            }
        }
    }

    [Test]
    public void DnaRoutesWithSalienceAndUpdatesOnlyWhenAsked()
    {
        const int T = 24;
        var config = new AttentionLayerConfig(C, H, Hkv)
        {
            Alpha = 1,
            AnchorStride = 8,
            Dna = new DnaConfig(),
            Budget = BudgetConfig.WithDna with { BaseLength = 10, MinLength = 10, MaxLength = 10 },
            Keep = null,
            HeadsPerToken = new HeadsConfig { HeadK = H },
        };
        AttentionLayerWeights weights = Weights(config, new Random(13), biases: false);
        double[] x = Random(new Random(14), B * T * C);
        var random = new Random(15);
        // Prototypes near some of the tokens, so that salience passes θ.
        var dna = new DnaState(Enumerable.Range(0, config.GateCount * C).Select(n => x[(n / C * 5 % (B * T)) * C + n % C] + 0.1 * (random.NextDouble() - 0.5)).ToArray(),
            new double[config.GateCount], Enumerable.Range(0, config.GateCount).Select(g => g / 8.0).ToArray());
        DnaState before = dna.Clone();

        AttentionLayerTrace trace = LayerOracle.Layer(config, weights, x, B, T, dna);
        Assert.That(trace.Budget, Is.EqualTo(new OracleBudget(10, 10, 6, 3, 1)));
        Assert.That(trace.Routing.Beta, Has.Some.GreaterThan(0));
        Assert.That(dna.Prototypes, Is.EqualTo(before.Prototypes), "no update unless asked");

        // Row 20 of batch 0: local 15..20, anchors {0, 8} (multiples of 8 ≤ 14), DNA the most salient j ≤ 14 (ties to the larger j).
        float[] salience = trace.Routing.Salience!.Take(T).Select(s => (float)s).ToArray();
        int top = Enumerable.Range(0, 15).OrderByDescending(j => salience[j]).ThenByDescending(j => j).First();
        long[] candidates = [.. new SortedSet<long> { 0, 8, top, 15, 16, 17, 18, 19, 20 }];
        Assert.That(trace.Attention.Take(20 * D + D).Skip(20 * D), Is.EqualTo(AttentionOver(trace, 0, 0, 20, T, candidates)).Within(1e-12));

        LayerOracle.Layer(config, weights, x, B, T, dna, updateDna: true);
        var expected = before.Clone();
        RouterOracle.Update(expected, x, trace.Routing.GateProbabilities, B * T, C);
        Assert.That(dna.Prototypes, Is.EqualTo(expected.Prototypes));
        Assert.That(dna.Usage, Is.EqualTo(expected.Usage));
        Assert.That(dna.Confidence, Is.EqualTo(expected.Confidence));
    }

    [TestCase(BlockNorm.LayerNorm)]
    [TestCase(BlockNorm.RmsNorm)]
    public void TheBlockIsPreNormWithResiduals(BlockNorm norm)
    {
        const int T = 6;
        var config = new AttentionBlockConfig(new AttentionLayerConfig(C, H, Hkv)) { Norm = norm };
        var random = new Random(16);
        AttentionLayerWeights layer = Weights(config.Layer, random, biases: true);
        double[] x = Random(random, B * T * C);
        double[] n1w = Random(random, C), n1b = Random(random, C), n2w = Random(random, C), n2b = Random(random, C);
        double[] fc1 = Random(random, 4 * C * C), fc1b = Random(random, 4 * C), fc2 = Random(random, C * 4 * C), fc2b = Random(random, C);

        // Zero output projections: both branches vanish and the block is the identity.
        var silent = new AttentionBlockWeights(layer with { Output = new double[C * C], OutputBias = null }, n1w, n1b, n2w, n2b, fc1, fc1b, new double[C * 4 * C], null);
        Assert.That(LayerOracle.Block(config, silent, x, B, T), Is.EqualTo(x));

        // Otherwise h = x + layer(norm1 x); out = h + fc2(GELU(fc1(norm2 h))), each step spelled out here.
        var weights = new AttentionBlockWeights(layer, n1w, n1b, n2w, n2b, fc1, fc1b, fc2, fc2b);
        double[] Norm(double[] v, double[] w, double[] b) => norm == BlockNorm.LayerNorm ? LayerOracle.LayerNorm(v, B * T, C, w, b) : LayerOracle.RmsNorm(v, B * T, C, w);
        double[] attention = LayerOracle.Layer(config.Layer, layer, Norm(x, n1w, n1b), B, T).Y;
        double[] h = x.Select((v, n) => v + attention[n]).ToArray();
        double[] hidden = LayerOracle.Linear(Norm(h, n2w, n2b), fc1, fc1b, B * T, C, 4 * C).Select(v => 0.5 * v * (1 + LayerOracle.Erf(v / Math.Sqrt(2)))).ToArray();
        double[] mlp = LayerOracle.Linear(hidden, fc2, fc2b, B * T, 4 * C, C);
        Assert.That(LayerOracle.Block(config, weights, x, B, T), Is.EqualTo(h.Select((v, n) => v + mlp[n])).Within(1e-12));
    }

    private static AttentionLayerWeights Weights(AttentionLayerConfig config, Random random, bool biases)
    {
        int qkv = (H + 2 * Hkv) * D;
        return new AttentionLayerWeights(
            Random(random, qkv * C, 0.3), biases ? Random(random, qkv, 0.1) : null,
            Random(random, config.GateCount * C, 0.5),
            Random(random, C * H * D, 0.3), biases ? Random(random, C, 0.1) : null);
    }

    private static double[] Random(Random random, int count, double scale = 1) =>
        Enumerable.Range(0, count).Select(_ => scale * (2 * random.NextDouble() - 1)).ToArray();

    // softmax(q·k/√D) over the given keys, from the trace's q, k, v after RoPE.
    private static double[] AttentionOver(AttentionLayerTrace trace, int b, int h, int i, int seqLen, long[] keys)
    {
        int kvHead = h / (H / Hkv);
        double[] scores = keys.Select(j =>
        {
            double dot = 0;
            for (int d = 0; d < D; d++)
            {
                dot += trace.Query[((b * H + h) * seqLen + i) * D + d] * trace.Key[((b * Hkv + kvHead) * seqLen + j) * D + d];
            }
            return dot / Math.Sqrt(D);
        }).ToArray();
        double[] p = LayerOracle.Softmax(scores);
        var o = new double[D];
        for (int n = 0; n < keys.Length; n++)
        {
            for (int d = 0; d < D; d++)
            {
                o[d] += p[n] * trace.Value[((b * Hkv + kvHead) * seqLen + keys[n]) * D + d];
            }
        }
        return o;
    }

    // Causal grouped-query attention written directly from x [B, T, C], with none of the oracle's code.
    private static double[] NaiveCausalLayer(AttentionLayerWeights w, double[] x, int seqLen, RopeConvention rope, long offset)
    {
        int width = (H + 2 * Hkv) * D;
        var y = new double[B * seqLen * C];
        for (int b = 0; b < B; b++)
        {
            // qkv[t][n] with RoPE applied to the q and k parts.
            var qkv = new double[seqLen][];
            for (int t = 0; t < seqLen; t++)
            {
                qkv[t] = new double[width];
                for (int n = 0; n < width; n++)
                {
                    double s = w.QkvBias![n];
                    for (int c = 0; c < C; c++)
                    {
                        s += x[(b * seqLen + t) * C + c] * w.Qkv[n * C + c];
                    }
                    qkv[t][n] = s;
                }
                for (int head = 0; head < H + Hkv; head++)
                {
                    for (int m = 0; m < D / 2; m++)
                    {
                        double angle = (offset + t) / Math.Pow(10000, 2.0 * m / D);
                        int i0 = head * D + (rope == RopeConvention.Interleaved ? 2 * m : m);
                        int i1 = head * D + (rope == RopeConvention.Interleaved ? 2 * m + 1 : m + D / 2);
                        (qkv[t][i0], qkv[t][i1]) = (qkv[t][i0] * Math.Cos(angle) - qkv[t][i1] * Math.Sin(angle), qkv[t][i0] * Math.Sin(angle) + qkv[t][i1] * Math.Cos(angle));
                    }
                }
            }
            for (int i = 0; i < seqLen; i++)
            {
                var concat = new double[H * D];
                for (int h = 0; h < H; h++)
                {
                    int kvh = h / (H / Hkv);
                    var weights = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        for (int d = 0; d < D; d++)
                        {
                            weights[j] += qkv[i][h * D + d] * qkv[j][(H + kvh) * D + d];
                        }
                        weights[j] = Math.Exp(weights[j] / Math.Sqrt(D));
                    }
                    double total = weights.Sum();
                    for (int j = 0; j <= i; j++)
                    {
                        for (int d = 0; d < D; d++)
                        {
                            concat[h * D + d] += weights[j] / total * qkv[j][(H + Hkv + kvh) * D + d];
                        }
                    }
                }
                for (int c = 0; c < C; c++)
                {
                    double s = w.OutputBias![c];
                    for (int n = 0; n < H * D; n++)
                    {
                        s += concat[n] * w.Output[c * H * D + n];
                    }
                    y[(b * seqLen + i) * C + c] = s;
                }
            }
        }
        return y;
    }
}
