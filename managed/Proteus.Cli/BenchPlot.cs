using System.Globalization;
using System.Text.Json;
using ScottPlot;
using SkiaSharp;

namespace Proteus.Cli;

/// <summary>
/// PyTorch SDPA's dense timings for one shape, from the perf.json of tests/gpu/sdpa_bench.py (its
/// <c>sdpa</c> list: <c>shape</c> [B, H, Hkv, T, D] and <c>ms</c>), to draw beside ours.
/// </summary>
/// <param name="Label">"SDPA 1x16/16x64".</param>
/// <param name="Points">(T, ms, dense causal FLOPs 2·B·H·T²·D) by T.</param>
internal sealed record SdpaSeries(string Label, IReadOnlyList<(long SeqLen, double Ms, double Flops)> Points)
{
    public static IReadOnlyList<SdpaSeries> Read(string path)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(path));
        if (!document.RootElement.TryGetProperty("sdpa", out JsonElement measured) || measured.ValueKind != JsonValueKind.Array)
        {
            throw new UsageException($"--sdpa: {path} has no 'sdpa' list (give the perf.json that tests/gpu/sdpa_bench.py writes)");
        }
        var points = new List<(string Shape, long SeqLen, double Ms, double Flops)>();
        foreach (JsonElement entry in measured.EnumerateArray())
        {
            if (entry.TryGetProperty("ms", out JsonElement ms) && ms.ValueKind == JsonValueKind.Number &&
                entry.GetProperty("shape").EnumerateArray().Select(value => value.GetInt64()).ToArray() is [long b, long h, long hkv, long t, long d])
            {
                points.Add(($"{b}x{h}/{hkv}x{d}", t, ms.GetDouble(), 2.0 * b * h * t * (double)t * d));
            }
        }
        return points.GroupBy(point => point.Shape)
            .Select(group => new SdpaSeries($"SDPA {group.Key}", group.OrderBy(p => p.SeqLen).Select(p => (p.SeqLen, p.Ms, p.Flops)).ToList()))
            .ToList();
    }
}

/// <summary>
/// <c>--plot</c>: two panels side by side, ms per call and FLOP/s against T (log₂ T; ms on a log scale),
/// one line per case name (dense, shortlist, auto, or a suite's cases), SDPA dashed beside them.
/// </summary>
internal static class BenchPlot
{
    private const int PanelWidth = 800, Height = 560;

    public static void Write(
        string path, IReadOnlyList<BenchResult> results, string unit, double unitScale, IReadOnlyList<SdpaSeries> sdpa, string title)
    {
        var series = results.GroupBy(r => r.Case)
            .Select(group => (Label: group.Key, Points: group.OrderBy(r => r.SeqLen).Select(r => (r.SeqLen, Ms: r.MedianMs, r.Flops)).ToList(), Dashed: false))
            .Concat(sdpa.Select(s => (s.Label, Points: s.Points.ToList(), Dashed: true)))
            .ToList();
        long[] seqLens = series.SelectMany(s => s.Points.Select(p => p.SeqLen)).Distinct().Order().ToArray();

        using var time = new Plot();
        using var throughput = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < series.Count; i++)
        {
            var (label, points, dashed) = series[i];
            double[] xs = points.Select(p => Math.Log2(p.SeqLen)).ToArray();
            Color color = palette.GetColor(i);
            AddLine(time, xs, points.Select(p => Math.Log10(p.Ms)).ToArray(), label, color, dashed);
            AddLine(throughput, xs, points.Select(p => p.Flops / (p.Ms / 1000) / unitScale).ToArray(), label, color, dashed);
        }
        foreach (Plot plot in new[] { time, throughput })
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                seqLens.Select(t => Math.Log2(t)).ToArray(), seqLens.Select(SeqLenLabel).ToArray());
            plot.XLabel("T (sequence length, log scale)");
            plot.ShowLegend(Alignment.UpperLeft);
        }
        time.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString("G4", CultureInfo.InvariantCulture),
        };
        time.YLabel("ms per call (median, log scale)");
        time.Title(title.Length > 70 ? title[..70] : title, 13);
        throughput.YLabel(unit);
        throughput.Title($"{unit} (dense: 2·B·H·T²·D; flux: 4·D·Σ|C(i)|)", 13);

        // Throughput from 0, so the modes' rates compare by height.
        throughput.Axes.AutoScale();
        throughput.Axes.SetLimitsY(0, throughput.Axes.GetLimits().Top * 1.1);

        // Each panel on its own surface (a plot clears the canvas it renders on), then side by side.
        using var surface = SKSurface.Create(new SKImageInfo(2 * PanelWidth, Height));
        surface.Canvas.Clear(SKColors.White);
        foreach ((Plot plot, int left) in new[] { (time, 0), (throughput, PanelWidth) })
        {
            using var panel = SKSurface.Create(new SKImageInfo(PanelWidth, Height));
            plot.Render(panel.Canvas, PanelWidth, Height);
            using SKImage rendered = panel.Snapshot();
            surface.Canvas.DrawImage(rendered, left, 0);
        }
        using SKImage image = surface.Snapshot();
        using SKData png = image.Encode(SKEncodedImageFormat.Png, 100);
        using FileStream file = File.Create(path);
        png.SaveTo(file);
    }

    private static void AddLine(Plot plot, double[] xs, double[] ys, string label, Color color, bool dashed)
    {
        var line = plot.Add.Scatter(xs, ys, color);
        line.LegendText = label;
        line.LineWidth = 2;
        line.MarkerSize = 7;
        line.LinePattern = dashed ? LinePattern.Dashed : LinePattern.Solid;
    }

    private static string SeqLenLabel(long seqLen) => seqLen >= 1 << 20 && seqLen % (1 << 20) == 0 ? $"{seqLen >> 20}M"
        : seqLen >= 1 << 10 && seqLen % (1 << 10) == 0 ? $"{seqLen >> 10}K"
        : seqLen.ToString(CultureInfo.InvariantCulture);
}
