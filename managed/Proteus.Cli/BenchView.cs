using Spectre.Console;
using Spectre.Console.Rendering;

namespace Proteus.Cli;

/// <summary>How a bench run appears on the console while it runs and after.</summary>
internal abstract class BenchView(BenchReport report)
{
    protected BenchReport Report { get; } = report;

    /// <summary>Runs every case through <paramref name="execute"/> (which reports (calls done, calls planned)), recording the outcomes.</summary>
    public abstract void Run(Func<BenchCase, Action<int, int>, BenchOutcome> execute);

    public abstract void Table(string title, string[] headers, IReadOnlyList<string[]> rows);

    public abstract void Note(string line);

    protected static string Describe(BenchCase benchCase) => $"{benchCase.Name} T {benchCase.SeqLen}";
}

/// <summary>
/// Plain text for logs and pipes (stdout not a terminal, or <c>--json</c>/<c>--csv</c>): the header,
/// then each case's row as soon as it is measured, in fixed columns, no colour and no live display.
/// </summary>
internal sealed class PlainBenchView(BenchReport report) : BenchView(report)
{
    public override void Run(Func<BenchCase, Action<int, int>, BenchOutcome> execute)
    {
        foreach (string line in Report.Header())
        {
            Console.WriteLine(line);
        }
        Console.WriteLine(Line(Report.Columns.Select(c => (c.Header, c.Width, c.AlignRight))));
        foreach (BenchCase benchCase in Report.Cases)
        {
            BenchOutcome outcome = execute(benchCase, (_, _) => { });
            Report.Outcomes.Add(outcome);
            Console.WriteLine(Line(Report.Columns.Select(c => (c.Cell(outcome), c.Width, c.AlignRight))));
        }
        foreach (BenchOutcome skipped in Report.Outcomes.Where(o => o.Result is null))
        {
            Console.WriteLine(Report.SkipNote(skipped));
        }
    }

    public override void Table(string title, string[] headers, IReadOnlyList<string[]> rows)
    {
        int[] widths = headers.Select((header, i) => rows.Select(row => row[i].Length).Append(header.Length).Max()).ToArray();
        Console.WriteLine();
        Console.WriteLine(title);
        Console.WriteLine(Line(headers.Select((header, i) => (header, widths[i], i > 0))));
        foreach (string[] row in rows)
        {
            Console.WriteLine(Line(row.Select((cell, i) => (cell, widths[i], i > 0))));
        }
    }

    public override void Note(string line) => Console.WriteLine(line);

    private static string Line(IEnumerable<(string Text, int Width, bool AlignRight)> cells) =>
        string.Join("  ", cells.Select(c => c.AlignRight ? c.Text.PadLeft(c.Width) : c.Text.PadRight(c.Width))).TrimEnd();
}

/// <summary>
/// A terminal: the results table grows above live progress bars (all cases, and the running case's
/// calls, each with its ETA); the tables are Spectre.Console tables.
/// </summary>
internal sealed class LiveBenchView(BenchReport report) : BenchView(report)
{
    private readonly Lock _gate = new();

    public override void Run(Func<BenchCase, Action<int, int>, BenchOutcome> execute)
    {
        foreach (string line in Report.Header())
        {
            AnsiConsole.Write(new Text(line + Environment.NewLine, new Style(decoration: Decoration.Bold)));
        }
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .UseRenderHook((progress, _) => new Rows(ResultsTable(), progress))
            .Start(context =>
            {
                ProgressTask all = context.AddTask($"{Report.Cases.Count} cases", maxValue: Report.Cases.Count);
                foreach (BenchCase benchCase in Report.Cases)
                {
                    ProgressTask current = context.AddTask(Describe(benchCase), maxValue: 2);
                    BenchOutcome outcome = execute(benchCase, (done, planned) =>
                    {
                        current.MaxValue = planned;
                        current.Value = done;
                    });
                    current.Value = current.MaxValue;
                    current.StopTask();
                    lock (_gate)
                    {
                        Report.Outcomes.Add(outcome);
                    }
                    all.Increment(1);
                }
            });
        foreach (BenchOutcome skipped in Report.Outcomes.Where(o => o.Result is null))
        {
            Note(Report.SkipNote(skipped));
        }
    }

    public override void Table(string title, string[] headers, IReadOnlyList<string[]> rows)
    {
        var table = new Table().Border(TableBorder.Simple).Title(title);
        foreach ((string header, int i) in headers.Select((header, i) => (header, i)))
        {
            table.AddColumn(Column(header, alignRight: i > 0));
        }
        foreach (string[] row in rows)
        {
            table.AddRow(row.Select(cell => (IRenderable)new Text(cell)).ToArray());
        }
        AnsiConsole.Write(table);
    }

    public override void Note(string line) => AnsiConsole.Write(new Text(line + Environment.NewLine));

    /// <summary>Cells never wrap, and columns are two spaces apart as in plain output, so a 120-column terminal holds every table.</summary>
    private static TableColumn Column(string header, bool alignRight) =>
        new TableColumn(new Text(header)) { Alignment = alignRight ? Justify.Right : Justify.Left }.NoWrap().PadLeft(0).PadRight(2);

    private Table ResultsTable()
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (BenchColumn column in Report.Columns)
        {
            table.AddColumn(Column(column.Header, column.AlignRight));
        }
        lock (_gate)
        {
            foreach (BenchOutcome outcome in Report.Outcomes)
            {
                table.AddRow(Report.Columns.Select(column => (IRenderable)new Text(column.Cell(outcome))).ToArray());
            }
        }
        return table;
    }
}
