using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Proteus.Cli;

/// <summary>One column of the results table: its header, its width in plain output, and the cell of an outcome.</summary>
internal sealed record BenchColumn(string Header, int Width, bool AlignRight, Func<BenchOutcome, string> Cell);

/// <summary>
/// What a bench run shows and writes: the results table's columns (only those that vary, within 120
/// columns), the side-by-side table of the modes with the α schedule, and the <c>--json</c>,
/// <c>--csv</c> and <c>--plot</c> files. Throughput is in GFLOP/s on the CPU and TFLOP/s on a GPU.
/// </summary>
internal sealed class BenchReport
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private readonly Device _device;
    private readonly BenchOptions _request;

    public BenchReport(Device device, BenchOptions request, IReadOnlyList<BenchCase> cases)
    {
        _device = device;
        _request = request;
        Cases = cases;
        bool cpu = device.Backend == Backend.Cpu;
        (ThroughputUnit, ThroughputScale) = cpu ? ("GFLOP/s", 1e9) : ("TFLOP/s", 1e12);
        Columns = CreateColumns(cases);
    }

    public IReadOnlyList<BenchCase> Cases { get; }

    public List<BenchOutcome> Outcomes { get; } = [];

    /// <summary>"GFLOP/s" on the CPU, "TFLOP/s" on a GPU.</summary>
    public string ThroughputUnit { get; }

    /// <summary>FLOP/s per <see cref="ThroughputUnit"/>.</summary>
    public double ThroughputScale { get; }

    public IReadOnlyList<BenchColumn> Columns { get; }

    /// <summary>The lines above the table: the device and what every case shares.</summary>
    public IEnumerable<string> Header()
    {
        var shared = new List<string>();
        if (Cases.Select(c => c.DType).Distinct().Count() == 1)
        {
            shared.Add(Names.Of(Cases[0].DType));
        }
        if (Cases.Select(c => c.Batch).Distinct().Count() == 1)
        {
            shared.Add($"B {Cases[0].Batch}");
        }
        if (Cases.Select(c => (c.Heads, c.KvHeads, c.HeadDim)).Distinct().Count() == 1)
        {
            shared.Add($"H {Cases[0].Heads}/{Cases[0].KvHeads} D {Cases[0].HeadDim}");
        }
        string suite = _request.Suite is { } name ? $"suite {name}{(_request.Scale is { } scale ? $" ×{scale:G4}" : "")} · " : "";
        yield return $"proteus bench · {Names.Of(_device.Backend)}:{_device.Info.Ordinal} {_device.Info.Name} · {suite}{string.Join(' ', shared)}";
        string launch = Cases[0].Launch is null ? "" : $" · launch {Cases[0].LaunchLabel}";
        yield return $"≈{_request.BudgetFor(_device.Backend):G3} s per case (warm-up included), ≤{_request.MaxIterations} samples" +
            $" · cases over {_request.CallLimitSeconds:G3} s a call are skipped{launch}";
    }

    private IReadOnlyList<BenchColumn> CreateColumns(IReadOnlyList<BenchCase> cases)
    {
        static string Measured(BenchOutcome outcome, Func<BenchResult, string> cell) => outcome.Result is { } result ? cell(result) : "—";
        var columns = new List<BenchColumn>
        {
            new("case", Math.Max(4, cases.Max(c => c.Name.Length)), false, o => o.Case.Name),
            new("T", 7, true, o => o.Case.SeqLen.ToString(CultureInfo.InvariantCulture)),
        };
        if (cases.Select(c => (c.Heads, c.KvHeads, c.HeadDim)).Distinct().Count() > 1)
        {
            columns.Add(new("H/Hkv×D", 8, true, o => $"{o.Case.Heads}/{o.Case.KvHeads}×{o.Case.HeadDim}"));
        }
        if (cases.Select(c => c.DType).Distinct().Count() > 1)
        {
            columns.Add(new("dtype", 8, false, o => Names.Of(o.Case.DType)));
        }
        columns.AddRange(
        [
            new("budgets", Math.Max(7, cases.Max(c => c.Budgets.Length)), false, o => o.Case.Budgets),
            new("kernel", 16, false, o => Measured(o, r => r.Kernel)),
            new("ms", 9, true, o => o.Result is { } r ? Milliseconds(r.MedianMs) : "skipped"),
            new("±", 6, true, o => Measured(o, r => r.SpreadPct switch { null => "—", > 999 => ">999%", { } spread => $"{spread:0.0}%" })),
            new(ThroughputUnit, 8, true, o => Measured(o, r => Throughput(r.Flops / (r.MedianMs / 1000)))),
            new("peak MiB", 8, true, o => Measured(o, r => $"{r.PeakBytes / (double)(1 << 20):0.0}")),
        ]);
        return columns;
    }

    public string Throughput(double flopsPerSecond)
    {
        double value = flopsPerSecond / ThroughputScale;
        return value >= 100 ? $"{value:0}" : value >= 10 ? $"{value:0.0}" : $"{value:0.00}";
    }

    public static string Milliseconds(double ms) => ms >= 100 ? $"{ms:0.0}" : ms >= 1 ? $"{ms:0.00}" : $"{ms:0.000}";

    /// <summary>A skipped case, as the note under the table says it.</summary>
    public string SkipNote(BenchOutcome outcome) =>
        $"skipped {outcome.Case.Name} T {outcome.Case.SeqLen}: one call ≈ {Duration(outcome.EstimatedSeconds)} " +
        $"(> --call-limit {_request.CallLimitSeconds:G3} s; estimated from the FLOPs at the rate of a smaller T)";

    private static string Duration(double seconds) => seconds switch
    {
        >= 3600 => $"{seconds / 3600:0.0} h",
        >= 60 => $"{seconds / 60:0.0} min",
        _ => $"{seconds:0.0} s",
    };

    /// <summary>
    /// Dense, the shortlist and the automatic schedule at each T, with what the schedule picked (α, L, W,
    /// S, A, K): the table the default sweep is for. Null unless the run has at least two of those modes.
    /// </summary>
    public (string[] Headers, List<string[]> Rows)? SideBySide()
    {
        var byMode = Outcomes.Where(o => o.Result is not null).ToLookup(o => o.Case.Name);
        string[] modes = ["dense", "shortlist", "auto"];
        if (modes.Count(mode => byMode[mode].Any()) < 2)
        {
            return null;
        }
        string[] headers = ["T", "dense ms", "shortlist ms", "×dense", "auto: α", "L", "W", "S", "A", "K", "auto ms", "×dense"];
        var rows = new List<string[]>();
        foreach (long seqLen in Outcomes.Select(o => o.Case.SeqLen).Distinct().Order())
        {
            BenchOutcome? Find(string mode) => byMode[mode].FirstOrDefault(o => o.Case.SeqLen == seqLen);
            double? dense = Find("dense")?.Result?.MedianMs;
            string Ms(BenchOutcome? outcome) => outcome?.Result is { } r ? Milliseconds(r.MedianMs) : "—";
            string Speedup(BenchOutcome? outcome) => outcome?.Result is { } r && dense is { } d ? $"{d / r.MedianMs:0.00}" : "—";
            BenchOutcome? shortlist = Find("shortlist"), auto = Find("auto");
            string[] schedule = auto?.Case.Schedule is { } s
                ? [$"{s.Alpha:0.000}", $"{s.Length}", $"{s.Window}", $"{s.AnchorStride}", $"{s.AnchorCount}", $"{s.DnaCount}"]
                : ["—", "—", "—", "—", "—", "—"];
            rows.Add([seqLen.ToString(CultureInfo.InvariantCulture), Ms(Find("dense")), Ms(shortlist), Speedup(shortlist), .. schedule, Ms(auto), Speedup(auto)]);
        }
        return (headers, rows);
    }

    /// <summary>After the run: the side-by-side table, then the files asked for.</summary>
    public void Write(BenchView view)
    {
        if (SideBySide() is { } table)
        {
            view.Table("dense, shortlist (W341 S256 A171) and the automatic α schedule (what it picked) side by side; ×dense = dense ms / ms",
                table.Headers, table.Rows);
        }
        List<BenchResult> results = Outcomes.Where(o => o.Result is not null).Select(o => o.Result!).ToList();
        if (_request.JsonPath is { } json)
        {
            var skipped = Outcomes.Where(o => o.Result is null)
                .Select(o => new SkippedCase(o.Case.Name, o.Case.Label, o.Case.SeqLen, o.EstimatedSeconds)).ToList();
            var report = new JsonReport(
                ProteusLibrary.Version.ToString(), ProteusLibrary.BuildInfo, _device.Info, _request.Suite, _request.Scale ?? 1, _request.Warmup,
                _request.MaxIterations, _request.BudgetFor(_device.Backend), _request.CallLimitSeconds, results, skipped);
            File.WriteAllText(json, JsonSerializer.Serialize(report, JsonOptions) + Environment.NewLine);
            view.Note($"results written to {json}");
        }
        if (_request.CsvPath is { } csv)
        {
            File.WriteAllText(csv, Csv(results));
            view.Note($"results written to {csv}");
        }
        if (_request.PlotPath is { } plot)
        {
            IReadOnlyList<SdpaSeries> sdpa = _request.SdpaPath is { } path ? SdpaSeries.Read(path) : [];
            BenchPlot.Write(plot, results, ThroughputUnit, ThroughputScale, sdpa, Header().First());
            view.Note($"plot written to {plot}");
        }
    }

    private static string Csv(IEnumerable<BenchResult> results)
    {
        var text = new StringBuilder(
            "case,seq_len,batch,heads,kv_heads,head_dim,dtype,label,alpha,window,anchor_stride,anchor_count,dna_count,kernel," +
            "median_ms,spread_pct,samples,flops,tflops,tokens_per_second,peak_bytes\n");
        foreach (BenchResult r in results)
        {
            FluxParameters p = r.Parameters;
            text.AppendLine(string.Join(',',
                r.Case, r.SeqLen, r.Batch, r.Heads, r.KvHeads, r.HeadDim, r.DType, $"\"{r.Label}\"", r.Alpha?.ToString("R", CultureInfo.InvariantCulture),
                Math.Min(p.Window, r.SeqLen), p.AnchorStride, p.AnchorCount, p.DnaCount, r.Kernel,
                r.MedianMs.ToString("R", CultureInfo.InvariantCulture), r.SpreadPct?.ToString("0.###", CultureInfo.InvariantCulture),
                r.Timing.SampleMs.Length, r.Flops.ToString("R", CultureInfo.InvariantCulture), r.Tflops.ToString("R", CultureInfo.InvariantCulture),
                r.TokensPerSecond.ToString("0", CultureInfo.InvariantCulture), r.PeakBytes));
        }
        return text.ToString();
    }

    /// <summary>A case not run: one call was estimated at <paramref name="EstimatedSeconds"/>, over the call limit.</summary>
    private sealed record SkippedCase(string Case, string Label, long SeqLen, double EstimatedSeconds);

    /// <summary>What <c>--json</c> writes (tests/gpu/sdpa_bench.py reads it).</summary>
    private sealed record JsonReport(
        string LibraryVersion, BuildInfo Build, DeviceInfo Device, string? Suite, double Scale, int Warmup, int MaxIterations,
        double BudgetSeconds, double CallLimitSeconds, IReadOnlyList<BenchResult> Results, IReadOnlyList<SkippedCase> Skipped);
}
