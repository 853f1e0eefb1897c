using Proteus;

const int B = 1, H = 8, T = 2048, D = 64;
var random = new Random(1);
float[] RandomTensor(long count) => [.. Enumerable.Range(0, (int)count).Select(_ => random.NextSingle() * 2 - 1)];

using var device = Device.OpenBest();
using var q = device.Upload<float>(RandomTensor((long)B * H * T * D));
using var k = device.Upload<float>(RandomTensor((long)B * H * T * D));
using var v = device.Upload<float>(RandomTensor((long)B * H * T * D));
using var o = device.Allocate<float>((long)B * H * T * D);
using var salience = device.Upload<float>(RandomTensor((long)B * T));   // the DNA tokens' score, [B, T]
var inputs = new FluxInputs<float>
{
    Query = TensorLayouts.Bhtd(q, B, H, T, D),
    Key = TensorLayouts.Bhtd(k, B, H, T, D),
    Value = TensorLayouts.Bhtd(v, B, H, T, D),
    Output = TensorLayouts.Bhtd(o, B, H, T, D),
    Salience = new TensorView<float>(salience, [B, T]),
};

var schedule = new AlphaSchedule(new AlphaScheduleOptions());        // Auto: the ramp 64 → 20000
var attention = new FluxAttention(device, schedule, new FluxBudget(new FluxBudgetOptions())) { MeasureTime = true };
attention.Run(inputs);                                                // α and budgets from T
Console.WriteLine(attention.LastRun);                                 // α, L, W, A, K, policy, backend, kernel, ms
