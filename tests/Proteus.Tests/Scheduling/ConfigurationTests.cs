namespace Proteus.Tests.Scheduling;

/// <summary>
/// Every bad configuration value raises ArgumentException (or ArgumentOutOfRangeException) naming the field,
/// and configured values are used as given, never replaced by a default.
/// </summary>
[TestFixture]
public sealed class ConfigurationTests
{
    private static TestCaseData Bad(string field, Action configure, string? display = null) =>
        new TestCaseData(field, configure).SetArgDisplayNames(display ?? field);

    public static IEnumerable<TestCaseData> BadValues()
    {
        // Alpha schedule.
        yield return Bad("Mode", () => _ = new AlphaScheduleOptions { Mode = (AlphaMode)7 });
        yield return Bad("SeqLow", () => _ = new AlphaScheduleOptions { SeqLow = -1 });
        yield return Bad("SwitchContext", () => _ = new AlphaScheduleOptions { SwitchContext = 0 });
        yield return Bad("SwitchContext", () => _ = new AlphaSchedule(new AlphaScheduleOptions { SeqLow = 20000, SwitchContext = 20000 }), "SwitchContext = SeqLow");
        yield return Bad("SwitchContext", () => _ = new AlphaSchedule(new AlphaScheduleOptions { SwitchContext = 64 }), "SwitchContext ≤ every derived seq_low");
        yield return Bad("SeqLow", () => _ = new AlphaRamp(-1, 10), "AlphaRamp SeqLow");
        yield return Bad("SwitchContext", () => _ = new AlphaRamp(10, 10), "AlphaRamp SwitchContext = SeqLow");
        yield return Bad("headDim", () => AlphaRamp.ForHeadDim(0));
        yield return Bad("seqLen", () => new AlphaRamp(1, 10).Evaluate(0));

        // Latency controller.
        yield return Bad("TargetLatency", () => _ = new LatencyControllerOptions { TargetLatency = TimeSpan.Zero });
        yield return Bad("Moves", () => _ = new LatencyControllerOptions { TargetLatency = TimeSpan.FromSeconds(1), Moves = (LatencyTarget)5 });
        foreach (double gain in new[] { 0, 1.5, double.NaN })
        {
            yield return Bad("Gain", () => _ = new LatencyControllerOptions { TargetLatency = TimeSpan.FromSeconds(1), Gain = gain }, $"Gain {gain}");
        }
        yield return Bad("Tolerance", () => _ = new LatencyControllerOptions { TargetLatency = TimeSpan.FromSeconds(1), Tolerance = 1 });
        yield return Bad("MaxAlphaStep", () => _ = new LatencyControllerOptions { TargetLatency = TimeSpan.FromSeconds(1), MaxAlphaStep = 0 });
        yield return Bad("MinBudgetScale", () => _ = new LatencyControllerOptions { TargetLatency = TimeSpan.FromSeconds(1), MinBudgetScale = 1.5 });
        yield return Bad("MaxBudgetScale", () => _ = new LatencyControllerOptions { TargetLatency = TimeSpan.FromSeconds(1), MaxBudgetScale = 0.5 });
        yield return Bad("elapsed", () => new AlphaSchedule().ReportLatency(TimeSpan.FromTicks(-1)));

        // Budget options, one value at a time.
        yield return Bad("Policy", () => _ = new FluxBudgetOptions { Policy = (BudgetPolicy)9 });
        yield return Bad("Target", () => _ = new FluxBudgetOptions { Target = (ShortlistTarget)9 });
        yield return Bad("Pieces", () => _ = new FluxBudgetOptions { Pieces = ShortlistPieces.None });
        yield return Bad("Pieces", () => _ = new FluxBudgetOptions { Pieces = (ShortlistPieces)8 }, "Pieces 8");
        yield return Bad("BaseLength", () => _ = new FluxBudgetOptions { BaseLength = 0 });
        yield return Bad("MinLength", () => _ = new FluxBudgetOptions { MinLength = 0 });
        yield return Bad("MaxLength", () => _ = new FluxBudgetOptions { MaxLength = 0 });
        yield return Bad("WindowBase", () => _ = new FluxBudgetOptions { WindowBase = 0 });
        yield return Bad("SwitchContext", () => _ = new FluxBudgetOptions { SwitchContext = 1 }, "budget SwitchContext");
        yield return Bad("AnchorStride", () => _ = new FluxBudgetOptions { AnchorStride = -1 });
        yield return Bad("LocalFraction", () => _ = new FluxBudgetOptions { LocalFraction = 1.5 });
        yield return Bad("AnchorFraction", () => _ = new FluxBudgetOptions { AnchorFraction = -0.1 });
        yield return Bad("DnaFraction", () => _ = new FluxBudgetOptions { DnaFraction = double.NaN });
        yield return Bad("CostBudget", () => _ = new FluxBudgetOptions { CostBudget = 0 });
        yield return Bad("megabytes", () => FluxBudgetOptions.SeedMemoryBudget(-1));

        // Budget options against each other.
        yield return Bad("MaxLength", () => _ = new FluxBudget(new FluxBudgetOptions { MaxLength = 50 }), "MaxLength below the derived L_min 64");
        yield return Bad("MinLength", () => _ = new FluxBudget(new FluxBudgetOptions { MinLength = 600 }), "MinLength above the derived L_max 512");
        yield return Bad("Pieces", () => _ = new FluxBudget(new FluxBudgetOptions { Pieces = ShortlistPieces.Anchors }), "Continuous without Local");
        yield return Bad("AnchorStride", () => _ = new FluxBudget(new FluxBudgetOptions { AnchorStride = 0 }), "Continuous anchors with stride 0");
        yield return Bad("Pieces", () => _ = new FluxBudget(new FluxBudgetOptions { Policy = BudgetPolicy.Seed, Pieces = ShortlistPieces.Anchors, AnchorStride = 0 }), "Seed with nothing left");
        yield return Bad("CostBudget", () => _ = new FluxBudget(new FluxBudgetOptions { Target = ShortlistTarget.Budget }), "Budget target without CostBudget");
        yield return Bad("LocalFraction", () => _ = new FluxBudget(new FluxBudgetOptions { Pieces = ShortlistPieces.Local, LocalFraction = 0 }), "enabled fractions all 0");
        yield return Bad("alpha", () => new FluxBudget().Compute(100, 1.5));
        yield return Bad("scale", () => new FluxBudget().Compute(100, 0.5, scale: 0));
        yield return Bad("SeqLen", () => new FluxBudget().Compute(0, 0.5));
        yield return Bad("Heads", () => new FluxBudget().Compute(new AttentionShape(1, 0, 10, 16), 0.5));

        // Token sparsity.
        yield return Bad("Curve", () => _ = new TokenKeepOptions { Curve = (KeepRatioCurve)3 }, "keep Curve");
        yield return Bad("Base", () => _ = new TokenKeepOptions { Base = 0 });
        yield return Bad("Base", () => _ = new TokenKeepOptions { Base = 1.5 }, "Base 1.5");
        yield return Bad("Reference", () => _ = new TokenKeepOptions { Reference = 0 });
        yield return Bad("MinRatio", () => _ = new TokenKeepOptions { MinRatio = 1.1 });
        yield return Bad("Guard", () => _ = new TokenKeepOptions { Guard = 0 });
        yield return Bad("SeqLow", () => _ = new HeadsPerTokenOptions { SeqLow = 0 }, "heads SeqLow");
        yield return Bad("SeqHigh", () => _ = new HeadsPerTokenOptions { SeqHigh = 1 });
        yield return Bad("MinHeads", () => _ = new HeadsPerTokenOptions { MinHeads = 0 });
        yield return Bad("MaxHeads", () => _ = new HeadsPerTokenOptions { MaxHeads = 0 });
        yield return Bad("Curve", () => _ = new HeadsPerTokenOptions { Curve = 0 }, "heads Curve");
        yield return Bad("NucleusTopP", () => _ = new HeadsPerTokenOptions { NucleusTopP = 0 });
        yield return Bad("NucleusTopP", () => _ = new HeadsPerTokenOptions { NucleusTopP = 1.5 }, "NucleusTopP 1.5");
        yield return Bad("HeadK", () => _ = new HeadsPerTokenOptions { HeadK = 0 });
        yield return Bad("SeqHigh", () => _ = new TokenSparsity(heads: new HeadsPerTokenOptions { SeqLow = 4096, SeqHigh = 4096 }), "SeqHigh = SeqLow");
        yield return Bad("MaxHeads", () => _ = new TokenSparsity(heads: new HeadsPerTokenOptions { MinHeads = 4, MaxHeads = 3 }), "MaxHeads < MinHeads");
        yield return Bad("alpha", () => new TokenSparsity().KeepRatio(100, -0.5));

        // Curriculum.
        yield return Bad("Initial", () => _ = new GeometricLengths(0, 2, 10));
        yield return Bad("Factor", () => _ = new GeometricLengths(10, 1, 100));
        yield return Bad("Max", () => _ = new GeometricLengths(10, 2, 5));
        yield return Bad("Lengths", () => _ = new ListedLengths([]));
        yield return Bad("Lengths", () => _ = new ListedLengths([5, 5]), "Lengths not increasing");
        yield return Bad("Lengths", () => _ = new ListedLengths([0, 5]), "Lengths 0");
        yield return Bad("Step", () => _ = new SteppedAlpha(0));
        yield return Bad("Initial", () => _ = new SteppedAlpha(0.1, initial: 1.5), "alpha Initial");
        yield return Bad("Max", () => _ = new SteppedAlpha(0.1, initial: 0.5, max: 0.4), "alpha Max below Initial");
        yield return Bad("Ramp", () => _ = new RampAlpha(null!));
        yield return Bad("Lengths", () => _ = new ContextMasteryOptions { Lengths = null! }, "Lengths null");
        yield return Bad("Patience", () => _ = new ContextMasteryOptions { Patience = 0 });
        yield return Bad("MinRelativeImprovement", () => _ = new ContextMasteryOptions { MinRelativeImprovement = -0.1 });
        yield return Bad("Smoothing", () => _ = new ContextMasteryOptions { Smoothing = 1 });

        // Per-call options.
        yield return Bad("Alpha", () => _ = new FluxRunOptions { Alpha = 2 });
        yield return Bad("Scale", () => _ = new FluxRunOptions { Scale = 0 });
    }

    [TestCaseSource(nameof(BadValues))]
    public void ABadValueIsRejectedNamingItsField(string field, Action configure)
    {
        var exception = Assert.Catch<ArgumentException>(configure);
        Assert.That(exception!.ParamName, Is.EqualTo(field), exception.Message);
    }

    [Test]
    public void ConfiguredValuesAreUsedAsGiven()
    {
        // seq_low 0 is a value, not "unset": α(1) = 1/20000.
        var schedule = new AlphaSchedule(new AlphaScheduleOptions { SeqLow = 0 });
        Assert.That(schedule.Ramp!.SeqLow, Is.EqualTo(0));
        Assert.That(schedule.Evaluate(1).Alpha, Is.EqualTo(1.0 / 20000));

        // L_min and L_max as configured, even where the derived defaults would differ.
        var budget = new FluxBudget(new FluxBudgetOptions { MinLength = 100, MaxLength = 200, WindowBase = 7 });
        Assert.That((budget.MinLength, budget.MaxLength, budget.WindowBase), Is.EqualTo((100L, 200L, 7L)));
        Assert.That(budget.Compute(20000, 1).TargetLength, Is.EqualTo(200.0));
        var derived = new FluxBudget(new FluxBudgetOptions { BaseLength = 40 });
        Assert.That((derived.MinLength, derived.MaxLength, derived.WindowBase), Is.EqualTo((40L, 40L, 512L)), "min(64, 40), L_base, 512 whatever L_base");
        var windowFromBase = new FluxBudget(new FluxBudgetOptions { BaseLength = 40, WindowBase = null });
        Assert.That(windowFromBase.WindowBase, Is.EqualTo(40L), "null W_base is L_base");

        // A zero local fraction is honoured: at α 1 everything but one window slot is anchors.
        var allAnchors = new FluxBudget(new FluxBudgetOptions { LocalFraction = 0 });
        Assert.That(allAnchors.Fractions, Is.EqualTo(new PieceFractions(0, 1, 0)));
        ShortlistBudget b = allAnchors.Compute(20000, 1);
        Assert.That((b.Length, b.Window, b.AnchorCount), Is.EqualTo((512L, 1L, 512L)));

        // A zero min_ratio lets the ratio fall below the 0.2 default.
        Assert.That(new TokenSparsity(new TokenKeepOptions { MinRatio = 0 }).KeepCurve(2048 * 100), Is.EqualTo(0.1).Within(1e-15));
    }
}
