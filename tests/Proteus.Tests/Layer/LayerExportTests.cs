using System.Globalization;
using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>
/// Writes, for the GPU harness's PyTorch reference of SPEC §7 (tests/gpu/layer_torch.py), one safetensors file
/// per configuration of the layer and the block run on the best device here (the first GPU, else the CPU):
/// the weights under the original names (the DNA state before the call), x, our y, the DNA state after the
/// update, and metadata with the configuration and the decisions the layer took from its host-side
/// schedules (α, heads per token, keep ratio and kept tokens, guard, the flux budgets). Runs only when
/// PROTEUS_LAYER_EXPORT names a directory; PROTEUS_LAYER_EXPORT_SMALL=1 scales every configuration down
/// (T ≤ 300, C ≤ 64) for the pure-Python reference (tests/gpu/layer_reference_pure.py), and
/// PROTEUS_LAYER_EXPORT_REDUCED=1 runs the GPU's storage types (bfloat16, float16) on the CPU too.
/// </summary>
[TestFixture]
[Category("LayerExport")]
public sealed class LayerExportTests
{
    private const string DirectoryVariable = "PROTEUS_LAYER_EXPORT", SmallVariable = "PROTEUS_LAYER_EXPORT_SMALL",
        ReducedVariable = "PROTEUS_LAYER_EXPORT_REDUCED";

    private static readonly bool Small = Environment.GetEnvironmentVariable(SmallVariable) == "1";

    /// <summary>Runs each configuration in its GPU storage type on the CPU too (to see the reduced-precision margins without a GPU).</summary>
    private static readonly bool Reduced = Environment.GetEnvironmentVariable(ReducedVariable) == "1";

    private string directory = null!;
    private Device device = null!;

    [OneTimeSetUp]
    public void Open()
    {
        string? target = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (string.IsNullOrEmpty(target))
        {
            Assert.Ignore($"Set {DirectoryVariable}=<dir> to write the layer-export files for tests/gpu/layer_torch.py " +
                $"(then: python3 tests/gpu/layer_torch.py <dir>); {SmallVariable}=1 for small shapes.");
        }
        directory = Directory.CreateDirectory(target).FullName;
        device = TestDevices.FirstGpu() is { } gpu ? Device.Open(gpu.Backend, gpu.Ordinal) : Device.Open(Backend.Cpu);
    }

    [OneTimeTearDown]
    public void Close() => device?.Dispose();

    /// <summary>One configuration: what runs, on which shapes, and the storage type it runs in on a GPU (float32 on the CPU).</summary>
    public sealed record ExportCase(string Name, ProteusLayerOptions Options, bool Block, int Batch, int Tokens, LayerForwardOptions Forward, DType GpuType)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<ExportCase> Cases()
    {
        (long c, int h, int g) = Small ? (64L, 4, 8) : (256L, 8, 16);
        var dna = new DnaOptions { UsageBoost = 0.15f, Theta = 0.1f };
        var keep = new TokenKeepOptions { Base = 0.5, Curve = KeepRatioCurve.Fixed, Guard = 3 };
        var heads = Small
            ? new HeadsPerTokenOptions { SeqLow = 16, SeqHigh = 512, MaxHeads = h, MinHeads = 1 }
            : new HeadsPerTokenOptions { SeqLow = 256, SeqHigh = 4096, MaxHeads = h, MinHeads = 2 };
        // Small budgets, so that the shortlist (L ≈ 128, 32 small) is much shorter than T.
        var budget = Small
            ? new FluxBudgetOptions { BaseLength = 32, MinLength = 16, MaxLength = 32, AnchorStride = 8, Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna }
            : new FluxBudgetOptions { BaseLength = 128, MinLength = 64, MaxLength = 128, AnchorStride = 32, Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna };

        yield return new("a-layer-dense-gqa-interleaved",
            new ProteusLayerOptions { ModelDim = c, Heads = h, KvHeads = h / 4, Gates = g, Bias = true },
            Block: false, Batch: 2, Tokens: Small ? 77 : 777, new LayerForwardOptions { Alpha = 0 }, DType.BFloat16);
        yield return new("b-layer-shortlist-dna-sparse-halfsplit",
            new ProteusLayerOptions
            {
                ModelDim = c, Heads = h, KvHeads = h / 2, Gates = g, Bias = true, Dna = dna, TokenKeep = keep, HeadsPerToken = heads, Budget = budget,
                Rope = new RopeOptions { Convention = RopeConvention.HalfSplit },
            },
            Block: false, Batch: 2, Tokens: Small ? 203 : 2049, new LayerForwardOptions { Alpha = 1, PositionOffset = 5, UpdateDna = true }, DType.Float16);
        yield return new("c-block-layernorm-dna",
            new ProteusLayerOptions { ModelDim = c, Heads = h, Gates = g, Bias = true, Dna = dna, TokenKeep = keep, HeadsPerToken = heads, Budget = budget, Norm = NormKind.Layer },
            Block: true, Batch: 2, Tokens: Small ? 101 : 1025, new LayerForwardOptions { Alpha = 1, PositionOffset = 3, UpdateDna = true }, DType.BFloat16);
        ProteusLayerOptions original = Small
            ? LayerPresets.Original with { ModelDim = 64, Heads = 4, Gates = 8, HeadsPerToken = LayerPresets.Original.HeadsPerToken! with { MaxHeads = 4, MinHeads = 1 } }
            : LayerPresets.Original;
        yield return new("d-layer-original-preset", original,
            Block: false, Batch: 1, Tokens: Small ? 300 : 4096, new LayerForwardOptions { UpdateDna = true }, DType.BFloat16);
    }

    [TestCaseSource(nameof(Cases))]
    public void ExportsTheRunForTheTorchReference(ExportCase c)
    {
        DType type = device.Backend == Backend.Cpu && !Reduced ? DType.Float32 : c.GpuType;
        string path = Path.Combine(directory, c.Name + ".safetensors");
        switch (type)
        {
            case DType.Float32: Export<float>(c, path, "float32"); break;
            case DType.Float16: Export<Half>(c, path, "float16"); break;
            default: Export<BFloat16>(c, path, "bfloat16"); break;
        }
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        Assert.That(file.Metadata, Does.ContainKey("window"));
        Assert.That(file.ReadFloats("y"), Has.All.Matches<float>(float.IsFinite));
    }

    private void Export<T>(ExportCase c, string path, string dtype)
        where T : unmanaged
    {
        var random = new Random(c.Name.Length * 7919 + c.Tokens);
        long width = c.Options.ModelDim, elements = c.Batch * c.Tokens * width;
        using ProteusBlock<T>? block = c.Block ? new ProteusBlock<T>(device, c.Options, seed: 1) : null;
        using ProteusAttentionLayer<T>? alone = c.Block ? null : new ProteusAttentionLayer<T>(device, c.Options, seed: 1);
        ProteusAttentionLayer<T> layer = block?.Attention ?? alone!;
        FillLayer(layer, random);
        if (block is not null)
        {
            FillBlock(block, random);
        }

        // The weights (with the DNA state before the call) under the original names, read back as tensors.
        string weightsPath = path + ".weights";
        if (block is not null)
        {
            LayerWeights.Save(block, weightsPath);
        }
        else
        {
            LayerWeights.Save(layer, weightsPath);
        }
        var tensors = new List<SafeTensorData>();
        using (SafeTensorsFile weights = SafeTensorsFile.Open(weightsPath))
        {
            tensors.AddRange(weights.Tensors.Select(t => SafeTensorData.FromFloats(t.Name, t.Shape.ToArray(), weights.ReadFloats(t.Name))));
        }
        File.Delete(weightsPath);

        float[] x = Input(layer, random, elements);
        using DeviceBuffer<T> xBuffer = device.Upload<T>(ElementConversions.FromSingle<T>(x));
        using DeviceBuffer<T> yBuffer = device.Allocate<T>(elements);
        var xView = new TensorView<T>(xBuffer, [c.Batch, c.Tokens, width]);
        var yView = new TensorView<T>(yBuffer, [c.Batch, c.Tokens, width]);
        LayerRunInfo run = block is not null ? block.Forward(xView, yView, c.Forward) : layer.Forward(xView, yView, c.Forward);
        device.Synchronize();

        long[] shape = [c.Batch, c.Tokens, width];
        tensors.Add(SafeTensorData.FromFloats("x", shape, ElementConversions.ToSingle<T>(xBuffer.ToArray())));
        tensors.Add(SafeTensorData.FromFloats("y", shape, ElementConversions.ToSingle<T>(yBuffer.ToArray())));
        if (run.DnaUpdated)
        {
            long g = c.Options.ResolvedGates;
            tensors.Add(SafeTensorData.FromFloats("dna_after.routing_prototypes", [g, width], layer.Prototypes!.ToArray()));
            tensors.Add(SafeTensorData.FromFloats("dna_after.routing_usage_ema", [g], layer.Usage!.ToArray()));
            tensors.Add(SafeTensorData.FromFloats("dna_after.routing_confidence", [g], layer.Confidence!.ToArray()));
        }
        SafeTensorsFile.Write(path, tensors, Metadata(c, run, dtype));
        TestContext.Out.WriteLine($"{path}: {dtype} on {device.Backend}, α {run.Decision.Alpha}, k {run.HeadsPerToken}, kept {run.KeptTokens}/{c.Tokens}, " +
            $"W {run.Attention.Parameters.Window} S {run.Attention.Parameters.AnchorStride} A {run.Attention.Parameters.AnchorCount} K {run.Attention.Parameters.DnaCount}, kernel {run.Attention.Kernel}");
    }

    /// <summary>Everything the reference needs besides the tensors: the configuration and the layer's host-side decisions.</summary>
    private Dictionary<string, string> Metadata(ExportCase c, LayerRunInfo run, string dtype)
    {
        ProteusLayerOptions o = c.Options;
        FluxParameters flux = run.Attention.Parameters;
        // The guard is the layer's (SPEC §4): T/GuardEvery (at least 1) or the fixed guard, at most T.
        long guard = Math.Min(c.Tokens, o.GuardEvery is { } every ? Math.Max(1, c.Tokens / every) : o.TokenKeep?.Guard ?? 1);
        var m = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["writer"] = "Proteus.Tests LayerExportTests",
            ["case"] = c.Name,
            ["kind"] = c.Block ? "block" : "layer",
            ["dtype"] = dtype,
            ["backend"] = device.Backend.ToString(),
            ["batch"] = Text(c.Batch),
            ["tokens"] = Text(c.Tokens),
            ["model_dim"] = Text(o.ModelDim),
            ["heads"] = Text(o.Heads),
            ["kv_heads"] = Text(o.ResolvedKvHeads),
            ["gates"] = Text(o.ResolvedGates),
            ["head_dim"] = Text(o.HeadDim),
            ["rope"] = o.Rope is null ? "none" : o.Rope.Convention == RopeConvention.HalfSplit ? "half-split" : "interleaved",
            ["rope_base"] = Text(o.Rope?.Base ?? 0f),
            ["position_offset"] = Text(c.Forward.PositionOffset),
            ["bias"] = o.Bias ? "1" : "0",
            ["norm"] = o.Norm == NormKind.Rms ? "rms" : "layer",
            ["norm_eps"] = Text(o.NormEps),
            ["dna"] = run.Dna ? "1" : "0",
            ["dna_updated"] = run.DnaUpdated ? "1" : "0",
            ["alpha"] = Text(run.Decision.Alpha),
            ["heads_per_token"] = Text(run.HeadsPerToken),
            ["keep_ratio"] = Text(run.KeepRatio),
            ["kept_tokens"] = Text(run.KeptTokens),
            ["guard"] = Text(guard),
            ["policy"] = flux.Policy.ToString().ToLowerInvariant(),
            ["window"] = Text(flux.Window),
            ["anchor_stride"] = Text(flux.AnchorStride),
            ["anchor_count"] = Text(flux.AnchorCount),
            ["dna_count"] = Text(flux.DnaCount),
            ["scale"] = flux.Scale is { } scale ? Text(scale) : "default",
            ["kernel"] = run.Attention.Kernel.ToString(),
        };
        if (o.Dna is { } dna)
        {
            m["dna_tau"] = Text(dna.Tau);
            m["dna_theta"] = Text(dna.Theta);
            m["dna_blend"] = Text(dna.Blend);
            m["dna_usage_boost"] = Text(dna.UsageBoost);
            m["dna_decay"] = Text(dna.Decay);
        }
        return m;
    }

    /// <summary>A float32 constant as the exact double it is, so that the float64 reference uses the same number.</summary>
    private static string Text(float value) => ((double)value).ToString("R", CultureInfo.InvariantCulture);

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Weights that make every piece matter: routing decisive, biases and DNA state non-zero, scores O(1).</summary>
    private static void FillLayer<T>(ProteusAttentionLayer<T> layer, Random random)
        where T : unmanaged
    {
        double c = layer.Options.ModelDim, projection = 1.6 / Math.Sqrt(c);
        Fill(layer.Qkv, random, projection);
        Fill(layer.Proj, random, projection);
        Fill(layer.Router, random, 4 / Math.Sqrt(c));
        Fill(layer.QkvBias, random, 0.1);
        Fill(layer.ProjBias, random, 0.1);
        Fill(layer.Prototypes, random, 1.0);
        Fill(layer.Usage, random, 0.5, 1.0);
        Fill(layer.Confidence, random, 0.3, 0.5);
    }

    private static void FillBlock<T>(ProteusBlock<T> block, Random random)
        where T : unmanaged
    {
        double c = block.Options.ModelDim;
        Fill(block.Norm1Weight, random, 0.3, 1.0);
        Fill(block.Norm2Weight, random, 0.3, 1.0);
        Fill(block.Norm1Bias, random, 0.1);
        Fill(block.Norm2Bias, random, 0.1);
        Fill(block.Fc1, random, 1.6 / Math.Sqrt(c));
        Fill(block.Fc2, random, 0.8 / Math.Sqrt(c));
        Fill(block.Fc1Bias, random, 0.1);
        Fill(block.Fc2Bias, random, 0.1);
    }

    /// <summary>
    /// x uniform in [−1, 1], half of the tokens pulled toward a random DNA prototype (when DNA is on) so that
    /// the salience spreads over [0, 1] and the blend, β and the DNA keys all take part.
    /// </summary>
    private static float[] Input<T>(ProteusAttentionLayer<T> layer, Random random, long elements)
        where T : unmanaged
    {
        int c = (int)layer.Options.ModelDim;
        var x = new float[elements];
        for (long i = 0; i < elements; i++)
        {
            x[i] = (float)(random.NextDouble() * 2 - 1);
        }
        if (layer.Prototypes is null)
        {
            return x;
        }
        float[] prototypes = layer.Prototypes.ToArray();
        int gates = prototypes.Length / c;
        for (long token = 0; token < elements / c; token++)
        {
            if (random.Next(2) == 0)
            {
                continue;
            }
            ReadOnlySpan<float> p = prototypes.AsSpan(random.Next(gates) * c, c);
            double norm = Math.Sqrt(p.ToArray().Sum(v => (double)v * v));
            double pull = random.NextDouble() * 2 * Math.Sqrt(c / 3.0) / norm;  // ‖noise‖ ≈ √(C/3)
            for (int k = 0; k < c; k++)
            {
                x[token * c + k] += (float)(pull * p[k]);
            }
        }
        return x;
    }

    private static void Fill<TE>(DeviceBuffer<TE>? buffer, Random random, double scale, double offset = 0)
        where TE : unmanaged
    {
        if (buffer is null)
        {
            return;
        }
        var values = new float[buffer.Length];
        for (long i = 0; i < values.Length; i++)
        {
            values[i] = (float)(offset + scale * (random.NextDouble() * 2 - 1));
        }
        buffer.CopyFrom(ElementConversions.FromSingle<TE>(values));
    }
}
