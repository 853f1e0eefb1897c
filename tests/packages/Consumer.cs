// The Program.cs of the console app tests/packages/check.sh makes: it references Proteus.Native from a
// local package feed only. A flux call at α = 0 (dense causal attention) and a shortlist call on the
// default device, each checked against attention computed here; exit code 1 on any mismatch.
// Argument: the version the packages must carry.
using Proteus;

const int B = 1, H = 2, T = 96, D = 16;
string expectedVersion = args[0];
var random = new Random(7);
float[] RandomTensor(int count) => [.. Enumerable.Range(0, count).Select(_ => random.NextSingle() * 2 - 1)];
float[] queries = RandomTensor(B * H * T * D), keys = RandomTensor(B * H * T * D), values = RandomTensor(B * H * T * D);

Console.WriteLine($"Proteus.Native {ProteusLibrary.Version}, libproteus from {ProteusLibrary.NativeLibraryPath}");
int failures = 0;
if (ProteusLibrary.Version.ToString(3) != expectedVersion)
{
    Console.WriteLine($"FAIL: the library says {ProteusLibrary.Version}, the package {expectedVersion}");
    failures++;
}
string expectedFolder = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
if (Path.GetDirectoryName(ProteusLibrary.NativeLibraryPath) != expectedFolder)
{
    Console.WriteLine($"FAIL: libproteus should come from the runtime package, in {expectedFolder}");
    failures++;
}

using var device = Device.OpenBest();
using var q = device.Upload<float>(queries);
using var k = device.Upload<float>(keys);
using var v = device.Upload<float>(values);
using var o = device.Allocate<float>(B * H * T * D);
var inputs = new FluxInputs<float>
{
    Query = TensorLayouts.Bhtd(q, B, H, T, D),
    Key = TensorLayouts.Bhtd(k, B, H, T, D),
    Value = TensorLayouts.Bhtd(v, B, H, T, D),
    Output = TensorLayouts.Bhtd(o, B, H, T, D),
};
var attention = new FluxAttention(device) { MeasureTime = true };
// Dense (α = 0): every key up to the query. Shortlist: a window of 8 and, before it, the two largest
// multiples of 16 as anchors (docs/flux-attention.md §3, Aligned).
foreach ((string name, FluxParameters parameters, Func<int, int, bool> candidate) in new (string, FluxParameters, Func<int, int, bool>)[]
{
    ("dense", FluxParameters.Dense, (i, j) => j <= i),
    ("shortlist", new FluxParameters { Window = 8, AnchorStride = 16, AnchorCount = 2 },
        (i, j) => j <= i && (i - j < 8 || (j % 16 == 0 && j <= i - 8 && j > i - 8 - 2 * 16))),
})
{
    attention.Run(inputs, parameters);
    float[] output = o.ToArray();
    double worst = 0;
    for (int h = 0; h < H; h++)
    {
        for (int i = 0; i < T; i++)
        {
            float[] expected = Attend(h, i, candidate);
            for (int d = 0; d < D; d++)
            {
                worst = Math.Max(worst, Math.Abs(output[((h * T) + i) * D + d] - expected[d]));
            }
        }
    }
    bool ok = worst < 1e-4;
    failures += ok ? 0 : 1;
    Console.WriteLine($"{(ok ? "ok" : "FAIL")} {name}: max |error| {worst:0.0e+0}; {attention.LastRun}");
}
return failures == 0 ? 0 : 1;

// Softmax attention of query row i of head h over the keys j with candidate(i, j), in double.
float[] Attend(int h, int i, Func<int, int, bool> candidate)
{
    double scale = 1 / Math.Sqrt(D), max = double.NegativeInfinity;
    var scores = new double[T];
    for (int j = 0; j < T; j++)
    {
        scores[j] = double.NegativeInfinity;
        if (!candidate(i, j)) continue;
        double dot = 0;
        for (int d = 0; d < D; d++) dot += queries[((h * T) + i) * D + d] * keys[((h * T) + j) * D + d];
        scores[j] = dot * scale;
        max = Math.Max(max, scores[j]);
    }
    var result = new double[D];
    double sum = 0;
    for (int j = 0; j < T; j++)
    {
        if (double.IsNegativeInfinity(scores[j])) continue;
        double weight = Math.Exp(scores[j] - max);
        sum += weight;
        for (int d = 0; d < D; d++) result[d] += weight * values[((h * T) + j) * D + d];
    }
    return [.. result.Select(x => (float)(x / sum))];
}
