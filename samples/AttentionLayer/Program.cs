using Proteus;

const int B = 1, T = 1024, C = 256;
var random = new Random(1);
float[] tokens = [.. Enumerable.Range(0, B * T * C).Select(_ => random.NextSingle() * 2 - 1)];

using var device = Device.OpenBest();
var options = new ProteusLayerOptions
{
    ModelDim = C, Heads = 8, Gates = 16,                                   // D = C / H = 32
    Dna = new DnaOptions { UsageBoost = 0.15f },                           // prototypes steer the router
    TokenKeep = new TokenKeepOptions { Base = 0.45, MinRatio = 0.2 },      // the most important tokens
    HeadsPerToken = new HeadsPerTokenOptions { MaxHeads = 8, MinHeads = 2, SeqLow = 64, SeqHigh = 256 },
};
using var block = new ProteusBlock<float>(device, options);              // pre-norm: attention + MLP
// LayerWeights.Load(block, "block.safetensors");                        // a checkpoint of the Python block
using var x = device.Upload<float>(tokens);
using var y = device.Allocate<float>(B * T * C);
LayerRunInfo ran = block.Forward(new TensorView<float>(x, [B, T, C]), new TensorView<float>(y, [B, T, C]),
    new LayerForwardOptions { UpdateDna = true });                        // training: the prototypes' EMA

float[] output = y.ToArray();                                            // waits for the work
Console.WriteLine($"α {ran.Decision.Alpha:F3}, {ran.HeadsPerToken} heads per token, {ran.KeptTokens} of {T} tokens kept, kernel {ran.Attention.Kernel}");
Console.WriteLine($"y[0, T - 1, 0..4] = {string.Join(", ", output[((T - 1) * C)..((T - 1) * C + 4)])}");
