using System.Diagnostics;
using System.Text.Json;

namespace Proteus.Cli;

/// <summary>What <c>proteus bench --layer</c> times.</summary>
internal sealed record LayerBenchOptions(
    Backend? Backend, string Preset, bool Block, long[]? SeqLens, long Batch, DType? DType, int Iterations, bool UpdateDna, string? JsonPath,
    int? Threads);

/// <summary>
/// <c>proteus bench --layer PRESET</c>: the drop-in attention layer (and with <c>--block</c> the whole
/// pre-norm block) forward on random activations at each T: the median wall time of whole synchronised
/// calls, the per-stage split of one extra call that waits after each stage (qkv projection + RoPE,
/// router + DNA, selection, attention, output projection, DNA update), the α, heads per token and keep
/// ratio it ran with, and the library's peak device allocation.
/// </summary>
internal static class LayerBench
{
    public static int Run(LayerBenchOptions request)
    {
        using Device device = request.Backend is { } backend ? Device.Open(backend) : Device.OpenBest();
        bool cpu = device.Backend == Proteus.Backend.Cpu;
        if (request.Threads is { } threads)
        {
            device.Threads = threads;
        }
        DType dtype = request.DType ?? (cpu ? Proteus.DType.Float32 : Proteus.DType.BFloat16);
        long[] seqLens = request.SeqLens ?? (cpu ? [1024, 4096] : [65536, 262144, 1048576]);
        ProteusLayerOptions options = LayerPresets.Named(request.Preset);
        Console.WriteLine($"proteus bench --layer {request.Preset} · {device} · {dtype} B {request.Batch} · d_model {options.ModelDim}, " +
                          $"H {options.Heads} of D {options.HeadDim}, G {options.ResolvedGates}, DNA {(options.Dna is null ? "off" : "on")}");
        Console.WriteLine($"{"what",-6} {"T",9} {"ms",10} {"α",6} {"k",3} {"keep",6} {"peak MiB",10}  stages (ms, one call waiting after each)");
        var results = new List<object>();
        foreach (long seqLen in seqLens.Distinct().Order())
        {
            results.Add(dtype switch
            {
                Proteus.DType.BFloat16 => Time<BFloat16>(device, options, request, seqLen, block: false),
                Proteus.DType.Float16 => Time<Half>(device, options, request, seqLen, block: false),
                _ => Time<float>(device, options, request, seqLen, block: false),
            });
            if (request.Block)
            {
                results.Add(dtype switch
                {
                    Proteus.DType.BFloat16 => Time<BFloat16>(device, options, request, seqLen, block: true),
                    Proteus.DType.Float16 => Time<Half>(device, options, request, seqLen, block: true),
                    _ => Time<float>(device, options, request, seqLen, block: true),
                });
            }
        }
        if (request.JsonPath is { } path)
        {
            File.WriteAllText(path, JsonSerializer.Serialize(new { device = device.ToString(), preset = request.Preset, dtype = dtype.ToString(), results },
                new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"results written to {path}");
        }
        return 0;
    }

    private static object Time<T>(Device device, ProteusLayerOptions options, LayerBenchOptions request, long seqLen, bool block)
        where T : unmanaged
    {
        long c = options.ModelDim, elements = request.Batch * seqLen * c;
        device.ResetPeak();
        using ProteusBlock<T>? blockModel = block ? new ProteusBlock<T>(device, options, seed: 1) : null;
        using ProteusAttentionLayer<T>? layerModel = block ? null : new ProteusAttentionLayer<T>(device, options, seed: 1);
        using DeviceBuffer<T> x = device.Allocate<T>(elements), y = device.Allocate<T>(elements);
        var random = new Random(7);
        var values = new float[Math.Min(elements, 1 << 22)];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1);
        }
        T[] chunk = ElementConversions.FromSingle<T>(values);
        for (long offset = 0; offset < elements; offset += chunk.Length)
        {
            x.CopyFrom(chunk.AsSpan(0, (int)Math.Min(chunk.Length, elements - offset)), offset);
        }
        var xView = new TensorView<T>(x, [request.Batch, seqLen, c]);
        var yView = new TensorView<T>(y, [request.Batch, seqLen, c]);
        var forward = new LayerForwardOptions { UpdateDna = request.UpdateDna && options.Dna is not null };
        LayerRunInfo Call(LayerForwardOptions o) => block ? blockModel!.Forward(xView, yView, o) : layerModel!.Forward(xView, yView, o);

        Call(forward);  // warm-up: scratch, BLAS handles, kernels
        device.Synchronize();
        var samples = new List<double>();
        var clock = new Stopwatch();
        for (int i = 0; i < request.Iterations; i++)
        {
            clock.Restart();
            Call(forward);
            device.Synchronize();
            samples.Add(clock.Elapsed.TotalMilliseconds);
        }
        samples.Sort();
        double median = samples[samples.Count / 2];
        LayerRunInfo staged = Call(forward with { MeasureStages = true });
        ulong peak = device.GetMemoryStats().PeakAllocatedBytes;
        string stages = string.Join(", ", staged.Stages.Select(s => $"{s.Stage} {s.Elapsed.TotalMilliseconds:F3}"));
        Console.WriteLine($"{(block ? "block" : "layer"),-6} {seqLen,9} {median,10:F3} {staged.Decision.Alpha,6:F3} {staged.HeadsPerToken,3} " +
                          $"{staged.KeepRatio,6:F3} {peak / 1048576.0,10:F1}  {stages}");
        return new
        {
            what = block ? "block" : "layer",
            seqLen,
            batch = request.Batch,
            medianMs = median,
            samplesMs = samples,
            alpha = staged.Decision.Alpha,
            headsPerToken = staged.HeadsPerToken,
            keepRatio = staged.KeepRatio,
            keptTokens = staged.KeptTokens,
            kernel = staged.Attention.Kernel.ToString(),
            window = staged.Attention.Parameters.Window,
            anchors = staged.Attention.Parameters.AnchorCount,
            dna = staged.Attention.Parameters.DnaCount,
            peakBytes = peak,
            stagesMs = staged.Stages.ToDictionary(s => s.Stage.ToString(), s => s.Elapsed.TotalMilliseconds),
        };
    }
}
