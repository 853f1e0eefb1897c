using System.Globalization;
using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>The checks every flux attention result must pass against an expected o and lse.</summary>
public static class FluxAssert
{
    /// <summary>
    /// Every o and lse element written and nothing else; inputs untouched; no NaN or Inf; inactive rows
    /// exactly 0 with lse −∞; o and lse within the dtype's SPEC §9 relative L2 error of the expected
    /// values, over the whole tensor and (eight times looser, against noise) row by row, so one wrong
    /// row in a large tensor is not averaged away.
    /// </summary>
    /// <param name="expectedOutput">o [B, H, T, D].</param>
    /// <param name="expectedLse">lse [B, H, T] (−∞ on inactive rows).</param>
    /// <param name="against">What the expected values are, for messages ("reference", "CPU backend").</param>
    /// <param name="tolerance">The relative L2 error allowed; null for SPEC §9's of the case's dtype.</param>
    public static void Matches(FluxProblem problem, FluxResult actual, double[] expectedOutput, double[] expectedLse, string against, double? tolerance = null)
    {
        var c = problem.Case;
        var x = problem.Inputs;
        double limit = tolerance ?? DTypes.Tolerance(c.DType);
        int rows = c.Batch * c.Heads * c.SeqLen;
        bool Active(int row) => x.Active is null || x.Active[row];

        using (Assert.EnterMultipleScope())
        {
            Assert.That(actual.UnwrittenOutputs, Is.Zero, "o elements left unwritten (still NaN)");
            Assert.That(actual.StrayOutputWrites, Is.Zero, "elements written outside the o view");
            Assert.That(actual.ChangedInputs, Is.Empty, "input buffers changed by the call");
            Assert.That(actual.Output.All(double.IsFinite), Is.True, "o has NaN or Inf");
            if (c.WithLse)
            {
                Assert.That(actual.UnwrittenLse, Is.Zero, "lse elements left unwritten (still NaN)");
                Assert.That(actual.StrayLseWrites, Is.Zero, "elements written outside the lse view");
            }
        }

        var inactiveNonZero = Enumerable.Range(0, rows)
            .Where(row => !Active(row) && Row(actual.Output, row, c.HeadDim).ToArray().Any(value => value != 0))
            .Select(Describe(c)).Take(5).ToList();
        Assert.That(inactiveNonZero, Is.Empty, "inactive rows must write o = 0 exactly");

        double outputError = RelativeL2(actual.Output, expectedOutput);
        Assert.That(outputError, Is.LessThanOrEqualTo(limit), $"relative L2 error of o against the {against}");
        double rms = Math.Sqrt(Enumerable.Range(0, rows).Where(Active).Select(row => SquaredNorm(Row(expectedOutput, row, c.HeadDim))).DefaultIfEmpty(0).Average());
        var badRows = Enumerable.Range(0, rows).Where(Active)
            .Select(row => (Row: row, Error: Math.Sqrt(SquaredDistance(Row(actual.Output, row, c.HeadDim), Row(expectedOutput, row, c.HeadDim))),
                Scale: Math.Max(Math.Sqrt(SquaredNorm(Row(expectedOutput, row, c.HeadDim))), 0.25 * rms)))
            .Where(r => r.Error > 8 * limit * r.Scale)
            .Select(r => $"{Describe(c)(r.Row)}: |o − expected| = {r.Error:G4}, |expected| = {r.Scale:G4}, o[0..4] = {Head(actual.Output, r.Row, c.HeadDim)}, expected {Head(expectedOutput, r.Row, c.HeadDim)}")
            .Take(5).ToList();
        Assert.That(badRows, Is.Empty, $"rows of o far from the {against}");

        if (actual.Lse is not { } lse)
        {
            return;
        }
        var wrongInactive = Enumerable.Range(0, rows).Where(row => !Active(row) && lse[row] != double.NegativeInfinity)
            .Select(row => $"{Describe(c)(row)}: lse = {lse[row]}").Take(5).ToList();
        Assert.That(wrongInactive, Is.Empty, "inactive rows must write lse = −∞");
        var activeRows = Enumerable.Range(0, rows).Where(Active).ToArray();
        Assert.That(activeRows.All(row => double.IsFinite(lse[row])), Is.True, "lse of an active row is not finite");
        double lseError = RelativeL2(activeRows.Select(row => lse[row]).ToArray(), activeRows.Select(row => expectedLse[row]).ToArray());
        Assert.That(lseError, Is.LessThanOrEqualTo(limit), $"relative L2 error of lse over active rows against the {against}");
        var badLse = activeRows.Where(row => Math.Abs(lse[row] - expectedLse[row]) > 8 * limit * Math.Max(1, Math.Abs(expectedLse[row])))
            .Select(row => $"{Describe(c)(row)}: lse = {lse[row]:G8}, expected {expectedLse[row]:G8}").Take(5).ToList();
        Assert.That(badLse, Is.Empty, $"lse rows far from the {against}");
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ (0 when both are 0).</summary>
    public static double RelativeL2(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        double norm = SquaredNorm(expected);
        double distance = SquaredDistance(actual, expected);
        return distance == 0 ? 0 : Math.Sqrt(distance / norm);
    }

    private static ReadOnlySpan<double> Row(double[] values, int row, int headDim) => values.AsSpan(row * headDim, headDim);

    private static double SquaredNorm(ReadOnlySpan<double> values)
    {
        double sum = 0;
        foreach (var value in values)
        {
            sum += value * value;
        }
        return sum;
    }

    private static double SquaredDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int n = 0; n < a.Length; n++)
        {
            sum += (a[n] - b[n]) * (a[n] - b[n]);
        }
        return sum;
    }

    private static string Head(double[] values, int row, int headDim) =>
        string.Join(", ", Row(values, row, headDim)[..Math.Min(4, headDim)].ToArray().Select(v => v.ToString("G5", CultureInfo.InvariantCulture)));

    private static Func<int, string> Describe(FluxCase c) =>
        row => $"(b {row / c.SeqLen / c.Heads}, h {row / c.SeqLen % c.Heads}, i {row % c.SeqLen})";
}
