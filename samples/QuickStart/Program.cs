using Proteus;

const int B = 1, H = 8, Hkv = 2, T = 2048, D = 64;
var random = new Random(1);
BFloat16[] RandomTensor(long count) => [.. Enumerable.Range(0, (int)count).Select(_ => (BFloat16)(random.NextSingle() * 2 - 1))];
BFloat16[] queries = RandomTensor((long)B * H * T * D), keys = RandomTensor((long)B * Hkv * T * D), values = RandomTensor((long)B * Hkv * T * D);

using var device = Device.OpenBest();                       // CUDA, then HIP, then CPU
using var q = device.Upload<BFloat16>(queries);            // [B, H, T, D]
using var k = device.Upload<BFloat16>(keys);               // [B, Hkv, T, D]
using var v = device.Upload<BFloat16>(values);
using var o = device.Allocate<BFloat16>((long)B * H * T * D);

var attention = new FluxAttention(device);
FluxRunInfo ran = attention.Run(
    new FluxInputs<BFloat16>
    {
        Query = TensorLayouts.Bhtd(q, B, H, T, D),
        Key = TensorLayouts.Bhtd(k, B, Hkv, T, D),
        Value = TensorLayouts.Bhtd(v, B, Hkv, T, D),
        Output = TensorLayouts.Bhtd(o, B, H, T, D),
    },
    new FluxParameters { Window = 341, AnchorStride = 256, AnchorCount = 171 });

BFloat16[] output = o.ToArray();                            // waits for the work
Console.WriteLine($"{device}: {ran}");
Console.WriteLine($"o[0, 0, T - 1, 0..4] = {string.Join(", ", output[((T - 1) * D)..((T - 1) * D + 4)].Select(x => (float)x))}");
