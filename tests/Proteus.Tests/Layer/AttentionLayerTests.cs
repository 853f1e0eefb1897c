using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>
/// The drop-in attention layer and block on the CPU backend (float32) against the float64 oracle of SPEC
/// §4–§7 on small shapes: odd T, GQA, both RoPE conventions with an offset, biases, α = 0 (exact dense), a
/// ramp α, α = 1 with DNA, token sparsity and heads per token, the DNA update, LayerNorm and RMSNorm; the
/// weights' safetensors round trip under the original's names; bad calls rejected before any work.
/// </summary>
[TestFixture]
public sealed class AttentionLayerTests
{
    private const int B = 2, C = 64, H = 4, Hkv = 2, G = 8, T = 37;
    private const double Tolerance = 1e-5;  // SPEC §9, float32

    private Device cpu = null!;

    [OneTimeSetUp]
    public void Open() => cpu = Device.Open(Backend.Cpu);

    [OneTimeTearDown]
    public void Close() => cpu.Dispose();

    /// <summary>A configuration in both vocabularies: the library's options and the oracle's.</summary>
    public sealed record LayerCase(string Name, ProteusLayerOptions Options, AttentionLayerConfig Oracle, double? Alpha, long Offset)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<LayerCase> Cases()
    {
        var sparse = new HeadsPerTokenOptions { SeqLow = 8, SeqHigh = 64, MaxHeads = H, MinHeads = 1, HeadK = 2 };
        var sparseOracle = new HeadsConfig { SeqLow = 8, SeqHigh = 64, MaxHeads = H, MinHeads = 1, HeadK = 2 };
        var budget = new FluxBudgetOptions { BaseLength = 16, MinLength = 8, MaxLength = 16, AnchorStride = 4 };
        var budgetOracle = new BudgetConfig { BaseLength = 16, MinLength = 8, MaxLength = 16 };
        var dnaBudget = budget with { Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna };
        var dnaBudgetOracle = BudgetConfig.WithDna with { BaseLength = 16, MinLength = 8, MaxLength = 16 };
        var options = new ProteusLayerOptions { ModelDim = C, Heads = H, KvHeads = Hkv, Gates = G, Bias = true, HeadsPerToken = sparse, Budget = budget };
        var oracle = new AttentionLayerConfig(C, H, Hkv) { Gates = G, Keep = null, HeadsPerToken = sparseOracle, Budget = budgetOracle, AnchorStride = 4 };

        yield return new("dense α 0, interleaved RoPE", options, oracle, 0.0, 0);
        yield return new("dense α 0, half-split RoPE at offset 5",
            options with { Rope = new RopeOptions { Convention = RopeConvention.HalfSplit } }, oracle with { Rope = RopeConvention.HalfSplit }, 0.0, 5);
        yield return new("ramp α (auto), heads per token",
            options with { Alpha = new AlphaScheduleOptions { SeqLow = 16, SwitchContext = 64 } }, oracle with { AlphaSeqLow = 16, SwitchContext = 64 }, null, 0);
        var keep = new TokenKeepOptions { Base = 0.6, Curve = KeepRatioCurve.Fixed, Guard = 2 };
        var keepOracle = new KeepConfig { Base = 0.6, Curve = KeepCurve.Fixed, Guard = 2 };
        yield return new("α 1, token sparsity, heads per token, no bias",
            options with { TokenKeep = keep, Bias = false }, oracle with { Keep = keepOracle }, 1.0, 0);
        var dna = new DnaOptions { UsageBoost = 0.15f, Theta = 0.1f };
        var dnaOracle = new DnaConfig { UsageBoost = 0.15, Theta = 0.1 };
        yield return new("α 1, DNA, token sparsity",
            options with { TokenKeep = keep, Dna = dna, Budget = dnaBudget }, oracle with { Keep = keepOracle, Dna = dnaOracle, Budget = dnaBudgetOracle }, 1.0, 3);
        yield return new("ramp α, DNA, half-split RoPE",
            options with { Dna = dna, Budget = dnaBudget, Rope = new RopeOptions { Convention = RopeConvention.HalfSplit }, Alpha = new AlphaScheduleOptions { SeqLow = 16, SwitchContext = 64 } },
            oracle with { Dna = dnaOracle, Budget = dnaBudgetOracle, Rope = RopeConvention.HalfSplit, AlphaSeqLow = 16, SwitchContext = 64 }, null, 0);
    }

    [TestCaseSource(nameof(Cases))]
    public void TheLayerMatchesTheOracle(LayerCase c)
    {
        var random = new Random(c.Name.Length * 31 + 5);
        using var layer = new ProteusAttentionLayer<float>(cpu, c.Options);
        (AttentionLayerWeights weights, DnaState? dna) = Load(layer, random);
        double[] x = Fresh(random, B * T * C, 1.0);
        using var xBuffer = cpu.Upload(x.Select(v => (float)v).ToArray());
        using var yBuffer = cpu.Allocate<float>(B * T * C);
        yBuffer.Fill(float.NaN);

        LayerRunInfo run = layer.Forward(View(xBuffer), View(yBuffer), new LayerForwardOptions { Alpha = c.Alpha, PositionOffset = c.Offset, UpdateDna = dna is not null });
        AttentionLayerTrace expected = LayerOracle.Layer(c.Oracle with { Alpha = c.Alpha, PositionOffset = c.Offset }, weights, x, B, T, dna, updateDna: dna is not null);
        cpu.Synchronize();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(run.Decision.Alpha, Is.EqualTo(expected.Alpha).Within(1e-12), "α");
            Assert.That(run.HeadsPerToken, Is.EqualTo(expected.HeadsPerToken), "heads per token");
            Assert.That(run.KeptTokens, Is.EqualTo(expected.KeptTokens), "kept tokens");
            Assert.That((run.Attention.Parameters.Window, run.Attention.Parameters.AnchorCount, run.Attention.Parameters.DnaCount),
                Is.EqualTo((expected.Budget.Window, expected.Budget.Anchors, expected.Budget.Dna)), "budgets");
            Assert.That(RelativeError(yBuffer.ToArray(), expected.Y), Is.LessThanOrEqualTo(Tolerance), "y");
            if (dna is not null)
            {
                Assert.That(RelativeError(layer.Prototypes!.ToArray(), dna.Prototypes), Is.LessThanOrEqualTo(Tolerance), "updated prototypes");
                Assert.That(RelativeError(layer.Usage!.ToArray(), dna.Usage), Is.LessThanOrEqualTo(Tolerance), "updated usage");
                Assert.That(RelativeError(layer.Confidence!.ToArray(), dna.Confidence), Is.LessThanOrEqualTo(Tolerance), "updated confidence");
            }
        }
    }

    [TestCase(NormKind.Layer, true)]
    [TestCase(NormKind.Rms, false)]
    public void TheBlockMatchesTheOracle(NormKind norm, bool bias)
    {
        var random = new Random(17 + (int)norm);
        var options = new ProteusLayerOptions { ModelDim = C, Heads = H, KvHeads = Hkv, Gates = G, Bias = bias, Norm = norm };
        using var block = new ProteusBlock<float>(cpu, options);
        (AttentionLayerWeights layerWeights, _) = Load(block.Attention, random);
        double[] n1 = Upload(block.Norm1Weight, Fresh(random, C, 0.3, 1.0));
        double[] n2 = Upload(block.Norm2Weight, Fresh(random, C, 0.3, 1.0));
        double[]? b1 = block.Norm1Bias is null ? null : Upload(block.Norm1Bias, Fresh(random, C, 0.1));
        double[]? b2 = block.Norm2Bias is null ? null : Upload(block.Norm2Bias, Fresh(random, C, 0.1));
        double[] fc1 = Upload(block.Fc1, Fresh(random, 4 * C * C, 0.1));
        double[] fc2 = Upload(block.Fc2, Fresh(random, 4 * C * C, 0.1));
        double[]? fc1Bias = block.Fc1Bias is null ? null : Upload(block.Fc1Bias, Fresh(random, 4 * C, 0.1));
        double[]? fc2Bias = block.Fc2Bias is null ? null : Upload(block.Fc2Bias, Fresh(random, C, 0.1));
        double[] x = Fresh(random, B * T * C, 1.0);
        using var xBuffer = cpu.Upload(x.Select(v => (float)v).ToArray());
        using var outBuffer = cpu.Allocate<float>(B * T * C);
        outBuffer.Fill(float.NaN);

        block.Forward(View(xBuffer), View(outBuffer), new LayerForwardOptions { Alpha = 0 });
        var config = new AttentionBlockConfig(new AttentionLayerConfig(C, H, Hkv) { Gates = G, Alpha = 0, Keep = null })
        {
            Norm = norm == NormKind.Layer ? BlockNorm.LayerNorm : BlockNorm.RmsNorm,
        };
        double[] expected = LayerOracle.Block(config, new AttentionBlockWeights(layerWeights, n1, b1, n2, b2, fc1, fc1Bias, fc2, fc2Bias), x, B, T);
        Assert.That(RelativeError(outBuffer.ToArray(), expected), Is.LessThanOrEqualTo(Tolerance));
    }

    [Test]
    public void BlockWeightsRoundTripThroughSafetensorsUnderTheOriginalNames()
    {
        var options = new ProteusLayerOptions { ModelDim = C, Heads = H, Gates = G, Dna = new DnaOptions(), Bias = true };
        string path = Path.Combine(Path.GetTempPath(), $"proteus-block-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var saved = new ProteusBlock<float>(cpu, options, seed: 3);
            Upload(saved.Norm1Bias!, Fresh(new Random(1), C, 0.1));
            LayerWeights.Save(saved, path);
            using (SafeTensorsFile file = SafeTensorsFile.Open(path))
            {
                Assert.That(file.Tensors.Select(t => t.Name), Is.EquivalentTo(new[]
                {
                    "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                    "attn.head_router.linear.weight", "attn.routing_prototypes", "attn.routing_usage_ema", "attn.routing_confidence",
                    "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
                }));
                Assert.That(file.GetInfo("attn.qkv.weight").Shape, Is.EqualTo(new long[] { 3 * C, C }));
            }
            using var loaded = new ProteusBlock<float>(cpu, options, seed: 4);
            LayerWeights.Load(loaded, path);
            double[] x = Fresh(new Random(2), B * T * C, 1.0);
            using var xBuffer = cpu.Upload(x.Select(v => (float)v).ToArray());
            using var first = cpu.Allocate<float>(B * T * C);
            using var second = cpu.Allocate<float>(B * T * C);
            saved.Forward(View(xBuffer), View(first));
            loaded.Forward(View(xBuffer), View(second));
            Assert.That(second.ToArray(), Is.EqualTo(first.ToArray()), "the loaded block computes what the saved one did, bit for bit");

            // A block of another width names every tensor that does not fit.
            using var other = new ProteusBlock<float>(cpu, options with { ModelDim = 2 * C }, seed: 5);
            var mismatch = Assert.Throws<WeightMismatchException>(() => LayerWeights.Load(other, path));
            Assert.That(mismatch!.Misshaped, Does.Contain("attn.qkv.weight").And.Contain("mlp.fc2.weight"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void BadCallsAreRejectedBeforeAnyWork()
    {
        var options = new ProteusLayerOptions { ModelDim = C, Heads = H, Gates = G };
        using var layer = new ProteusAttentionLayer<float>(cpu, options);
        using var x = cpu.Allocate<float>(B * T * C);
        using var y = cpu.Allocate<float>(B * T * C);
        x.Fill(0.5f);
        y.Fill(float.NaN);
        using (Assert.EnterMultipleScope())
        {
            Assert.Throws<InvalidOperationException>(() => layer.Forward(View(x), View(y), new LayerForwardOptions { UpdateDna = true }), "DNA is off");
            Assert.Throws<ArgumentException>(() => layer.Forward(new TensorView<float>(x, [B, T, C / 2], null), View(y)), "C");
            Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(View(x), View(y), new LayerForwardOptions { PositionOffset = -1 }));
            Assert.Throws<ArgumentException>(() => new ProteusAttentionLayer<float>(cpu, options with { Heads = 5 }), "C not a multiple of H");
            Assert.Throws<ArgumentException>(() => new ProteusAttentionLayer<float>(cpu, options with { Gates = H - 1 }), "G < H");
        }
        Assert.That(y.ToArray(), Is.All.NaN, "nothing was written");
    }

    private static TensorView<float> View(DeviceBuffer<float> buffer) => new(buffer, [B, T, C]);

    /// <summary>Random weights into the layer; the oracle gets exactly the float32 values the layer holds.</summary>
    private static (AttentionLayerWeights Weights, DnaState? Dna) Load(ProteusAttentionLayer<float> layer, Random random)
    {
        double[] qkv = Upload(layer.Qkv, Fresh(random, layer.Qkv.Length, 0.2));
        double[]? qkvBias = layer.QkvBias is null ? null : Upload(layer.QkvBias, Fresh(random, layer.QkvBias.Length, 0.1));
        double[] router = Upload(layer.Router, Fresh(random, layer.Router.Length, 0.5));
        double[] proj = Upload(layer.Proj, Fresh(random, layer.Proj.Length, 0.2));
        double[]? projBias = layer.ProjBias is null ? null : Upload(layer.ProjBias, Fresh(random, layer.ProjBias.Length, 0.1));
        DnaState? dna = null;
        if (layer.Prototypes is not null)
        {
            dna = new DnaState(Upload(layer.Prototypes, Fresh(random, layer.Prototypes.Length, 0.5)),
                Upload(layer.Usage!, Fresh(random, G, 0.5, 1.0)), Upload(layer.Confidence!, Fresh(random, G, 0.3, 0.5)));
        }
        return (new AttentionLayerWeights(qkv, qkvBias, router, proj, projBias), dna);
    }

    private static double[] Upload(DeviceBuffer<float> buffer, double[] values)
    {
        float[] rounded = values.Select(v => (float)v).ToArray();
        buffer.CopyFrom(rounded);
        return rounded.Select(v => (double)v).ToArray();
    }

    private static double[] Fresh(Random random, long length, double scale, double offset = 0) =>
        Enumerable.Range(0, (int)length).Select(_ => offset + scale * (random.NextDouble() * 2 - 1)).ToArray();

    private static double RelativeError(float[] actual, double[] expected)
    {
        double error = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (!float.IsFinite(actual[i]))
            {
                return double.PositiveInfinity;
            }
            error += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        return Math.Sqrt(error / Math.Max(norm, 1e-300));
    }
}
