using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>
/// The drop-in layer and block on the GPU against the same on the CPU backend (the CPU against the float64
/// oracle is <see cref="AttentionLayerTests"/>): same weights, same inputs, DNA, token and head sparsity,
/// in float32 (SPEC §9: 1e-5, no TF32) and bfloat16 (1e-2); the DNA state after an update; five GPU runs
/// of the router and DNA update give the same bits. Left out without a GPU.
/// </summary>
[GpuFixture]
[Category("Gpu")]
public sealed class GpuLayerTests : GpuAndCpuDevices
{
    private const int B = 2, C = 128, H = 8, G = 16, Tokens = 301;

    private static ProteusLayerOptions Options(bool dna) => new()
    {
        ModelDim = C,
        Heads = H,
        KvHeads = 4,
        Gates = G,
        Bias = true,
        Dna = dna ? new DnaOptions { UsageBoost = 0.15f, Theta = 0.1f } : null,
        TokenKeep = new TokenKeepOptions { Base = 0.5, Curve = KeepRatioCurve.Fixed, Guard = 3 },
        HeadsPerToken = new HeadsPerTokenOptions { SeqLow = 16, SeqHigh = 128, MaxHeads = H, MinHeads = 2 },
        Budget = new FluxBudgetOptions
        {
            BaseLength = 64, MinLength = 32, MaxLength = 64, AnchorStride = 16,
            Pieces = dna ? ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna : ShortlistPieces.Local | ShortlistPieces.Anchors,
        },
    };

    [TestCase(false, 1.0)]
    [TestCase(true, 1.0)]
    [TestCase(true, 0.0)]
    public void TheLayerOnTheGpuMatchesTheCpuInFloat32(bool dna, double alpha) => Compare<float>(dna, alpha, 1e-5, block: false);

    [TestCase(true, 1.0)]
    public void TheBlockOnTheGpuMatchesTheCpuInBFloat16(bool dna, double alpha) => Compare<BFloat16>(dna, alpha, 1e-2, block: true);

    [Test]
    public void TheRouterAndTheDnaUpdateGiveTheSameBitsOnEveryRun()
    {
        float[]? first = null;
        for (int run = 0; run < 5; run++)
        {
            using var layer = new ProteusAttentionLayer<float>(Gpu!, Options(dna: true), seed: 9);
            using var x = Gpu!.Upload(Fresh(new Random(4), B * Tokens * C));
            using var y = Gpu.Allocate<float>(B * Tokens * C);
            layer.Forward(View(x), View(y), new LayerForwardOptions { Alpha = 1, UpdateDna = true });
            float[] state = [.. layer.Prototypes!.ToArray(), .. layer.Usage!.ToArray(), .. layer.Confidence!.ToArray(), .. y.ToArray()];
            if (first is null)
            {
                first = state;
            }
            else
            {
                Assert.That(state.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(first.Select(BitConverter.SingleToInt32Bits)), $"run {run}");
            }
        }
    }

    private void Compare<T>(bool dna, double alpha, double tolerance, bool block)
        where T : unmanaged
    {
        float[] x = Fresh(new Random(5), B * Tokens * C);
        var forward = new LayerForwardOptions { Alpha = alpha, UpdateDna = dna, PositionOffset = 11 };
        (float[] gpuY, float[]? gpuState) = Run<T>(Gpu!, x, forward, dna, block);
        (float[] cpuY, float[]? cpuState) = Run<T>(Cpu!, x, forward, dna, block);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(gpuY, Has.All.Matches<float>(float.IsFinite));
            Assert.That(RelativeError(gpuY, cpuY), Is.LessThanOrEqualTo(tolerance), "y");
            if (dna)
            {
                Assert.That(RelativeError(gpuState!, cpuState!), Is.LessThanOrEqualTo(tolerance), "DNA state after the update");
            }
        }
    }

    private static (float[] Y, float[]? DnaState) Run<T>(Device device, float[] x, LayerForwardOptions forward, bool dna, bool block)
        where T : unmanaged
    {
        using var xBuffer = device.Upload(ElementConversions.FromSingle<T>(x));
        using var yBuffer = device.Allocate<T>(x.Length);
        var xView = new TensorView<T>(xBuffer, [B, Tokens, C]);
        var yView = new TensorView<T>(yBuffer, [B, Tokens, C]);
        float[]? state = null;
        if (block)
        {
            using var model = new ProteusBlock<T>(device, Options(dna), seed: 2);
            model.Forward(xView, yView, forward);
            state = dna ? [.. model.Attention.Prototypes!.ToArray(), .. model.Attention.Usage!.ToArray()] : null;
        }
        else
        {
            using var model = new ProteusAttentionLayer<T>(device, Options(dna), seed: 2);
            model.Forward(xView, yView, forward);
            state = dna ? [.. model.Prototypes!.ToArray(), .. model.Usage!.ToArray()] : null;
        }
        return (ElementConversions.ToSingle<T>(yBuffer.ToArray()), state);
    }

    private static TensorView<float> View(DeviceBuffer<float> buffer) => new(buffer, [B, Tokens, C]);

    private static float[] Fresh(Random random, int length) => [.. Enumerable.Range(0, length).Select(_ => random.NextSingle() * 2 - 1)];

    private static double RelativeError(float[] actual, float[] expected)
    {
        double error = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            error += (double)(actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(error / Math.Max(norm, 1e-300));
    }
}
