using Proteus;

const int B = 1, H = 8, Hkv = 2, T = 1024, D = 64;
var random = new Random(1);
BFloat16[] RandomTensor(long count) => [.. Enumerable.Range(0, (int)count).Select(_ => (BFloat16)(random.NextSingle() * 2 - 1))];

using var device = Device.OpenBest();
using var kCache = device.Upload<BFloat16>(RandomTensor((long)B * Hkv * T * D));   // the KV cache: T keys
using var vCache = device.Upload<BFloat16>(RandomTensor((long)B * Hkv * T * D));
using var q1 = device.Upload<BFloat16>(RandomTensor((long)B * H * D));            // one new query per head
using var o1 = device.Allocate<BFloat16>((long)B * H * D);
var attention = new FluxAttention(device);
var parameters = new FluxParameters { Window = 341, AnchorStride = 256, AnchorCount = 171 };

var step = new FluxInputs<BFloat16>
{
    Query = TensorLayouts.Bhtd(q1, B, H, 1, D),              // Tq = 1
    Key = TensorLayouts.Bhtd(kCache, B, Hkv, T, D),
    Value = TensorLayouts.Bhtd(vCache, B, Hkv, T, D),
    Output = TensorLayouts.Bhtd(o1, B, H, 1, D),
    // QueryOffset = null: p0 = T − Tq, the last positions; set it for any other chunk
};
FluxRunInfo ran = attention.Run(step, parameters);           // also attention.LastRun
Console.WriteLine($"{ran.Kernel} {ran.ResolvedLaunch}");      // e.g. GpuTile, every launch field resolved
float[] decoded = [.. o1.ToArray().Select(x => (float)x)];             // waits for the work
Console.WriteLine($"p0 {ran.QueryOffset}, Tq {ran.QueryLength}, o[0, 0, 0, 0..4] = {string.Join(", ", decoded[..4])}");
