namespace Proteus.Tests.Scheduling;

/// <summary>The Context Mastery curriculum: the plateau detector, the stage ladder, the events and the JSON round trip.</summary>
[TestFixture]
public sealed class ContextMasteryCurriculumTests
{
    // Stages (256, α 0), (512, 0.5), (1024, 1).
    private static readonly ContextMasteryOptions ThreeStages = new()
    {
        Lengths = new GeometricLengths(256, 2, 1024),
        Alpha = new SteppedAlpha(0.5),
        Patience = 2,
        MinRelativeImprovement = 0.01,
    };

    [Test]
    public void TheDefaultCurriculumStartsShortAndDense()
    {
        var curriculum = new ContextMasteryCurriculum();
        Assert.That(curriculum.Stage, Is.EqualTo(new CurriculumStage(0, 512, 0)));
        Assert.That(curriculum.IsFinal, Is.False);
    }

    [Test]
    public void ItAdvancesAfterPatienceFlatEvaluations()
    {
        var curriculum = new ContextMasteryCurriculum(ThreeStages);
        var events = Record(curriculum);
        // 10 sets the best; 9 improves by 10 % (> 1 %); 8.95 and 8.92 improve by < 1 % of 9: two flat evaluations.
        Assert.That(Feed(curriculum, 10.0, 9.0, 8.95, 8.92), Is.EqualTo(new[] { false, false, false, true }));
        Assert.That(curriculum.Stage, Is.EqualTo(new CurriculumStage(1, 512, 0.5)));
        Assert.That(events, Has.Count.EqualTo(1));
        Assert.That(events[0].OldStage, Is.EqualTo(new CurriculumStage(0, 256, 0)));
        Assert.That(events[0].NewStage, Is.EqualTo(new CurriculumStage(1, 512, 0.5)));
        Assert.That((events[0].SeqLen, events[0].Alpha, events[0].Reason), Is.EqualTo((512L, 0.5, StageChangeReason.Plateau)));
        Assert.That((curriculum.BestLoss, curriculum.SmoothedLoss, curriculum.FlatEvaluations), Is.EqualTo(((double?)null, (double?)null, 0)), "the detector starts afresh");
    }

    [Test]
    public void NoiseBelowTheThresholdDoesNotAdvanceBeforePatienceRunsOut()
    {
        var curriculum = new ContextMasteryCurriculum(ThreeStages with { Patience = 3 });
        // Flat runs of one and two evaluations, each ended by a real improvement, then a flat run of three.
        double[] losses = [10, 9.95, 10.04, 9.0, 9.05, 8.99, 8.0, 8.01, 7.99, 8.05];
        bool[] expected = [false, false, false, false, false, false, false, false, false, true];
        Assert.That(Feed(curriculum, losses), Is.EqualTo(expected));
        Assert.That(curriculum.Evaluations, Is.EqualTo(10));
    }

    [Test]
    public void SmoothingCarriesAnImprovingTrendOverASpike()
    {
        var options = ThreeStages with { Patience = 1 };
        var raw = new ContextMasteryCurriculum(options);
        Assert.That(Feed(raw, 10, 6, 6.5), Is.EqualTo(new[] { false, false, true }), "raw: 6.5 is no improvement on 6");

        var smoothed = new ContextMasteryCurriculum(options with { Smoothing = 0.5 });
        Assert.That(Feed(smoothed, 10, 6, 6.5), Is.EqualTo(new[] { false, false, false }), "smoothed: 10, 8, 7.25 keeps improving");
        Assert.That(smoothed.SmoothedLoss, Is.EqualTo(7.25));
        Assert.That(smoothed.BestLoss, Is.EqualTo(7.25));
    }

    [Test]
    public void StagesStepUpToTheirCapsAndTheFinalStageStays()
    {
        var curriculum = new ContextMasteryCurriculum(ThreeStages with { Patience = 1, MinRelativeImprovement = 0 });
        var events = Record(curriculum);
        Assert.That(Feed(curriculum, 1, 1, 1, 1), Is.EqualTo(new[] { false, true, false, true }));
        Assert.That(curriculum.Stage, Is.EqualTo(new CurriculumStage(2, 1024, 1)));
        Assert.That(curriculum.IsFinal, Is.True);
        Assert.That(Feed(curriculum, 1, 1, 1), Is.EqualTo(new[] { false, false, false }));
        Assert.That(curriculum.FlatEvaluations, Is.EqualTo(2));
        Assert.That(curriculum.Advance(), Is.False);
        Assert.That(events.Select(e => e.NewStage), Is.EqualTo(new[] { new CurriculumStage(1, 512, 0.5), new CurriculumStage(2, 1024, 1) }));
    }

    [Test]
    public void LengthAndAlphaReachTheirCapsIndependently()
    {
        var lengthFirst = new ContextMasteryCurriculum(new ContextMasteryOptions { Lengths = new GeometricLengths(512, 2, 1024), Alpha = new SteppedAlpha(0.25) });
        Assert.That(Stages(lengthFirst), Is.EqualTo(new[]
        {
            new CurriculumStage(0, 512, 0), new CurriculumStage(1, 1024, 0.25), new CurriculumStage(2, 1024, 0.5),
            new CurriculumStage(3, 1024, 0.75), new CurriculumStage(4, 1024, 1),
        }));

        var alphaFirst = new ContextMasteryCurriculum(new ContextMasteryOptions { Lengths = new GeometricLengths(256, 2, 2048), Alpha = new SteppedAlpha(0.5, max: 0.5) });
        Assert.That(Stages(alphaFirst), Is.EqualTo(new[]
        {
            new CurriculumStage(0, 256, 0), new CurriculumStage(1, 512, 0.5), new CurriculumStage(2, 1024, 0.5), new CurriculumStage(3, 2048, 0.5),
        }));

        var fractional = new ContextMasteryCurriculum(new ContextMasteryOptions { Lengths = new GeometricLengths(100, 1.5, 400), Alpha = new SteppedAlpha(1) });
        Assert.That(Stages(fractional).Select(s => s.SeqLen), Is.EqualTo(new long[] { 100, 150, 225, 338, 400 }), "ceil(337.5) = 338, then the cap");
    }

    [Test]
    public void AListOfLengthsWithTheRampsAlpha()
    {
        var options = new ContextMasteryOptions { Lengths = new ListedLengths([1024, 4096, 20000]), Alpha = new RampAlpha(new AlphaRamp(64, 20000)) };
        CurriculumStage[] stages = Stages(new ContextMasteryCurriculum(options));
        Assert.That(stages.Select(s => s.SeqLen), Is.EqualTo(new long[] { 1024, 4096, 20000 }));
        Assert.That(stages[0].Alpha, Is.EqualTo(0.0), "stage 0 starts dense");
        Assert.That(stages[1].Alpha, Is.EqualTo(4032.0 / 19936).Within(1e-12), "α(4096)");
        Assert.That(stages[2].Alpha, Is.EqualTo(1.0));

        var capped = options with { Alpha = new RampAlpha(new AlphaRamp(64, 20000), max: 0.5) };
        Assert.That(Stages(new ContextMasteryCurriculum(capped))[^1].Alpha, Is.EqualTo(0.5));
    }

    [Test]
    public void AManualAdvanceSaysSo()
    {
        var curriculum = new ContextMasteryCurriculum(ThreeStages);
        var events = Record(curriculum);
        curriculum.ReportValidationLoss(3);
        Assert.That(curriculum.Advance(), Is.True);
        Assert.That(events.Single().Reason, Is.EqualTo(StageChangeReason.Manual));
        Assert.That(curriculum.BestLoss, Is.Null);
    }

    public static IEnumerable<TestCaseData> SavedCurricula()
    {
        yield return new TestCaseData(ThreeStages with { Patience = 3, Smoothing = 0.3 }, 7).SetArgDisplayNames("geometric, stepped, smoothed");
        yield return new TestCaseData(
            new ContextMasteryOptions
            {
                Lengths = new ListedLengths([512, 2048, 8192, 32768]),
                Alpha = new RampAlpha(new AlphaRamp(128, 20000), initial: 0.1, max: 0.9),
                Patience = 2,
                MinRelativeImprovement = 0.002,
            }, 11).SetArgDisplayNames("listed, ramp");
        yield return new TestCaseData(ThreeStages, 0).SetArgDisplayNames("saved before any report");
    }

    [TestCaseSource(nameof(SavedCurricula))]
    public void ASavedCurriculumContinuesIdentically(ContextMasteryOptions options, int reportsBeforeSaving)
    {
        // A loss that improves for 30 evaluations and then only wobbles, so that the run crosses plateaus and stage changes.
        var random = new Random(99);
        double[] losses = [.. Enumerable.Range(0, 60).Select(n => 5 * Math.Exp(-Math.Min(n, 30) / 10.0) + 0.01 * random.NextDouble())];

        var original = new ContextMasteryCurriculum(options);
        Feed(original, losses[..reportsBeforeSaving]);
        string saved = original.ToJson();
        var restored = ContextMasteryCurriculum.FromJson(saved);

        Assert.That(restored.Options, Is.EqualTo(original.Options));
        Assert.That(restored.ToJson(), Is.EqualTo(saved));
        var originalEvents = Record(original);
        var restoredEvents = Record(restored);
        foreach (double loss in losses[reportsBeforeSaving..])
        {
            Assert.That(restored.ReportValidationLoss(loss), Is.EqualTo(original.ReportValidationLoss(loss)));
            Assert.That(
                (restored.Stage, restored.BestLoss, restored.SmoothedLoss, restored.FlatEvaluations, restored.Evaluations),
                Is.EqualTo((original.Stage, original.BestLoss, original.SmoothedLoss, original.FlatEvaluations, original.Evaluations)));
        }
        Assert.That(originalEvents, Is.Not.Empty, "the continuation changes stage");
        Assert.That(restoredEvents.Select(e => (e.OldStage, e.NewStage, e.Reason)), Is.EqualTo(originalEvents.Select(e => (e.OldStage, e.NewStage, e.Reason))));
    }

    [Test]
    public void BadSavedStateIsRejected()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => ContextMasteryCurriculum.FromJson("not json"))!.ParamName, Is.EqualTo("json"));
        string saved = new ContextMasteryCurriculum(ThreeStages).ToJson();
        Assert.That(saved, Does.Contain("\"Patience\":2"));
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => ContextMasteryCurriculum.FromJson(saved.Replace("\"Patience\":2", "\"Patience\":0")));
        Assert.That(exception!.ParamName, Is.EqualTo("Patience"));
        Assert.That(saved, Does.Contain("\"Stage\":0"));
        Assert.That(Assert.Throws<ArgumentException>(() => ContextMasteryCurriculum.FromJson(saved.Replace("\"Stage\":0", "\"Stage\":7")))!.ParamName, Is.EqualTo("json"), "past the final stage");
        Assert.That(Assert.Throws<ArgumentException>(() => ContextMasteryCurriculum.FromJson(saved.Replace("\"Format\":1", "\"Format\":2")))!.ParamName, Is.EqualTo("json"));
    }

    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void ANonFiniteLossIsRejected(double loss)
    {
        var curriculum = new ContextMasteryCurriculum();
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => curriculum.ReportValidationLoss(loss))!.ParamName, Is.EqualTo("loss"));
        Assert.That(curriculum.Evaluations, Is.EqualTo(0));
    }

    private static List<CurriculumStageChangedEventArgs> Record(ContextMasteryCurriculum curriculum)
    {
        var events = new List<CurriculumStageChangedEventArgs>();
        curriculum.StageChanged += (_, e) => events.Add(e);
        return events;
    }

    private static bool[] Feed(ContextMasteryCurriculum curriculum, params double[] losses) =>
        [.. losses.Select(curriculum.ReportValidationLoss)];

    /// <summary>Every stage, walked with manual advances.</summary>
    private static CurriculumStage[] Stages(ContextMasteryCurriculum curriculum)
    {
        var stages = new List<CurriculumStage> { curriculum.Stage };
        while (curriculum.Advance())
        {
            stages.Add(curriculum.Stage);
        }
        return [.. stages];
    }
}
