namespace Proteus.Tests.Scheduling;

/// <summary>The flux alpha schedule of SPEC §4: the ramp, the modes, the override, hysteresis and the latency controller.</summary>
[TestFixture]
public sealed class AlphaScheduleTests
{
    private static readonly AlphaScheduleOptions Ramp64To20000 = new() { SeqLow = 64, SwitchContext = 20000 };

    // α(T) = (T − 64) / 19936 between the ends: the expected values are those exact fractions.
    [TestCase(1L, 0.0)]
    [TestCase(64L, 0.0)]
    [TestCase(128L, 64.0 / 19936)]       // 0.0032102728…
    [TestCase(1024L, 960.0 / 19936)]     // 0.0481540930…
    [TestCase(4096L, 4032.0 / 19936)]    // 0.2022471910…
    [TestCase(10000L, 9936.0 / 19936)]   // 0.4983948635…
    [TestCase(15000L, 14936.0 / 19936)]  // 0.7491974317…
    [TestCase(20000L, 1.0)]
    [TestCase(1_000_000L, 1.0)]
    public void AutoAlphaIsTheRampFromSeqLowToSwitchContext(long seqLen, double expected)
    {
        var schedule = new AlphaSchedule(Ramp64To20000);
        AlphaDecision decision = schedule.Evaluate(seqLen);
        Assert.That(decision.Alpha, Is.EqualTo(expected).Within(1e-12));
        Assert.That(decision.Source, Is.EqualTo(AlphaSource.Auto));
        Assert.That(decision.BudgetScale, Is.EqualTo(1.0));
        Assert.That(new AlphaRamp(64, 20000).Evaluate(seqLen), Is.EqualTo(decision.Alpha), "AlphaRamp is the same function");
    }

    [Test]
    public void TheStatedDecimalsOfTheRampHold()
    {
        var ramp = new AlphaRamp(64, 20000);
        Assert.That(ramp.Evaluate(128), Is.EqualTo(0.0032102728731942).Within(1e-12));
        Assert.That(ramp.Evaluate(1024), Is.EqualTo(0.0481540930979133).Within(1e-12));
        Assert.That(ramp.Evaluate(4096), Is.EqualTo(0.2022471910112360).Within(1e-12));
        Assert.That(ramp.Evaluate(10000), Is.EqualTo(0.4983948635634029).Within(1e-12));
        Assert.That(ramp.Evaluate(15000), Is.EqualTo(0.7491974317817014).Within(1e-12));
    }

    [TestCase(16L, 64L)]
    [TestCase(64L, 64L)]
    [TestCase(128L, 128L)]
    public void DefaultSeqLowIsTheLargerOf64AndTheHeadDim(long headDim, long seqLow)
    {
        var schedule = new AlphaSchedule();
        Assert.That(schedule.Ramp, Is.Null, "seq_low is derived per call");
        Assert.That(schedule.Evaluate(seqLow, headDim).Alpha, Is.EqualTo(0.0));
        Assert.That(schedule.Evaluate(seqLow + 100, headDim).Alpha, Is.EqualTo(100.0 / (20000 - seqLow)).Within(1e-15));
        Assert.That(AlphaRamp.ForHeadDim(headDim), Is.EqualTo(new AlphaRamp(seqLow, 20000)));
    }

    [Test]
    public void AnUnsetSeqLowWithoutAHeadDimIsAnError()
    {
        var exception = Assert.Throws<ArgumentException>(() => new AlphaSchedule().Evaluate(1000));
        Assert.That(exception!.ParamName, Is.EqualTo("headDim"));
    }

    [Test]
    public void ADerivedSeqLowAtOrAboveSwitchContextIsAnError()
    {
        var schedule = new AlphaSchedule(new AlphaScheduleOptions { SwitchContext = 100 });
        Assert.That(schedule.Evaluate(50, headDim: 64).Alpha, Is.EqualTo(0.0));
        var exception = Assert.Throws<ArgumentException>(() => schedule.Evaluate(50, headDim: 128));
        Assert.That(exception!.ParamName, Is.EqualTo("SwitchContext"));
    }

    [Test]
    public void DenseAndShortlistModesFixAlpha()
    {
        var schedule = new AlphaSchedule(Ramp64To20000 with { Mode = AlphaMode.Dense });
        Assert.That(schedule.Evaluate(100_000), Is.EqualTo(new AlphaDecision(0, AlphaSource.Dense, 1, false)));
        schedule.Mode = AlphaMode.Shortlist;
        Assert.That(schedule.Evaluate(10), Is.EqualTo(new AlphaDecision(1, AlphaSource.Shortlist, 1, false)));
        schedule.Mode = AlphaMode.Auto;
        Assert.That(schedule.Evaluate(4096).Alpha, Is.EqualTo(4032.0 / 19936).Within(1e-12));
    }

    [Test]
    public void HysteresisHoldsAlphaAt095WhileTStaysAboveThreeQuartersOfSwitchContext()
    {
        var schedule = new AlphaSchedule(Ramp64To20000 with { Hysteresis = true });

        Assert.That(schedule.Evaluate(19000).Alpha, Is.EqualTo(18936.0 / 19936).Within(1e-12), "0.9498…: below 0.95, no latch");
        Assert.That(schedule.HysteresisLatched, Is.False);
        Assert.That(schedule.Evaluate(19100).Alpha, Is.EqualTo(19036.0 / 19936).Within(1e-12), "0.9548…: latches");
        Assert.That(schedule.HysteresisLatched, Is.True);

        AlphaDecision held = schedule.Evaluate(16000);
        Assert.That(held.Alpha, Is.EqualTo(0.95), "ramp 0.7994… held at 0.95 (16000 ≥ 15000)");
        Assert.That(held.HeldByHysteresis, Is.True);
        Assert.That(schedule.Evaluate(15000).Alpha, Is.EqualTo(0.95), "T = 0.75·switch_ctx still holds");

        Assert.That(schedule.Evaluate(14999).Alpha, Is.EqualTo(14935.0 / 19936).Within(1e-12), "below 15000 the latch releases");
        Assert.That(schedule.HysteresisLatched, Is.False);
        Assert.That(schedule.Evaluate(16000).Alpha, Is.EqualTo(15936.0 / 19936).Within(1e-12), "and stays released");
    }

    [Test]
    public void WithoutHysteresisTheSameLengthsFollowTheRamp()
    {
        var schedule = new AlphaSchedule(Ramp64To20000);
        schedule.Evaluate(19100);
        Assert.That(schedule.Evaluate(16000).Alpha, Is.EqualTo(15936.0 / 19936).Within(1e-12));
        Assert.That(schedule.HysteresisLatched, Is.False);
    }

    [Test]
    public void TheAlphaControllerMovesAnOffsetByBoundedSteps()
    {
        var controller = new LatencyControllerOptions { TargetLatency = TimeSpan.FromMilliseconds(10), Gain = 0.5, MaxAlphaStep = 0.05, Tolerance = 0.05 };
        var schedule = new AlphaSchedule(Ramp64To20000 with { LatencyController = controller });

        schedule.ReportLatency(TimeSpan.FromMilliseconds(20));   // r = 2: 0.5·(2 − 1) = 0.5, capped at the step 0.05
        Assert.That(schedule.AlphaOffset, Is.EqualTo(0.05));
        Assert.That(schedule.Evaluate(4096).Alpha, Is.EqualTo(4032.0 / 19936 + 0.05).Within(1e-12));

        schedule.ReportLatency(TimeSpan.FromMilliseconds(10.4)); // r = 1.04: inside the dead band
        Assert.That(schedule.AlphaOffset, Is.EqualTo(0.05));

        schedule.ReportLatency(TimeSpan.FromMilliseconds(10.6)); // r = 1.06: 0.5·0.06 = 0.03
        Assert.That(schedule.AlphaOffset, Is.EqualTo(0.08).Within(1e-12));

        schedule.ReportLatency(TimeSpan.FromMilliseconds(5));    // r = 0.5: −0.25, capped at −0.05
        Assert.That(schedule.AlphaOffset, Is.EqualTo(0.03).Within(1e-12));

        for (int n = 0; n < 100; n++)
        {
            schedule.ReportLatency(TimeSpan.FromSeconds(1));
        }
        Assert.That(schedule.AlphaOffset, Is.EqualTo(1.0), "the offset is bounded by 1");
        Assert.That(schedule.Evaluate(100).Alpha, Is.EqualTo(1.0), "and α by [0, 1]");
        for (int n = 0; n < 100; n++)
        {
            schedule.ReportLatency(TimeSpan.Zero);
        }
        Assert.That(schedule.AlphaOffset, Is.EqualTo(-1.0));
        Assert.That(schedule.Evaluate(19999).Alpha, Is.EqualTo(0.0));
    }

    [Test]
    public void TheBudgetScaleControllerScalesByTheLatencyRatioToTheMinusGain()
    {
        var controller = new LatencyControllerOptions { TargetLatency = TimeSpan.FromMilliseconds(10), Moves = LatencyTarget.BudgetScale, Gain = 1 };
        var schedule = new AlphaSchedule(Ramp64To20000 with { LatencyController = controller });

        schedule.ReportLatency(TimeSpan.FromMilliseconds(20));
        Assert.That(schedule.BudgetScale, Is.EqualTo(0.5));
        AlphaDecision decision = schedule.Evaluate(4096);
        Assert.That(decision.BudgetScale, Is.EqualTo(0.5));
        Assert.That(decision.Alpha, Is.EqualTo(4032.0 / 19936).Within(1e-12), "α is untouched");
        Assert.That(new FluxBudget().Compute(20000, 1, decision.BudgetScale).TargetLength, Is.EqualTo(256.0), "L_t = 0.5·512");

        schedule.ReportLatency(TimeSpan.FromMilliseconds(5));
        Assert.That(schedule.BudgetScale, Is.EqualTo(1.0));
        for (int n = 0; n < 10; n++)
        {
            schedule.ReportLatency(TimeSpan.FromMilliseconds(1));
        }
        Assert.That(schedule.BudgetScale, Is.EqualTo(4.0), "bounded by MaxBudgetScale");
        for (int n = 0; n < 10; n++)
        {
            schedule.ReportLatency(TimeSpan.FromSeconds(1));
        }
        Assert.That(schedule.BudgetScale, Is.EqualTo(0.25), "bounded by MinBudgetScale");
    }

    [Test]
    public void HysteresisAndTheControllerCompose()
    {
        var controller = new LatencyControllerOptions { TargetLatency = TimeSpan.FromMilliseconds(10), MaxAlphaStep = 0.05 };
        var schedule = new AlphaSchedule(Ramp64To20000 with { Hysteresis = true, LatencyController = controller });
        schedule.ReportLatency(TimeSpan.FromMilliseconds(1)); // fast: offset −0.05

        Assert.That(schedule.Evaluate(20000).Alpha, Is.EqualTo(0.95), "1 − 0.05 reaches the latch");
        Assert.That(schedule.HysteresisLatched, Is.True);
        AlphaDecision held = schedule.Evaluate(16000);
        Assert.That(held.Alpha, Is.EqualTo(0.95), "ramp 0.7994… − 0.05, held at 0.95");
        Assert.That(held.HeldByHysteresis, Is.True);
    }

    [Test]
    public void AnExplicitAlphaBeatsEveryOtherRule()
    {
        var controller = new LatencyControllerOptions { TargetLatency = TimeSpan.FromMilliseconds(10), MaxAlphaStep = 1 };
        var schedule = new AlphaSchedule(Ramp64To20000 with { Hysteresis = true, LatencyController = controller });
        schedule.ReportLatency(TimeSpan.FromSeconds(1));     // offset +1: the controller wants α = 1
        schedule.Evaluate(20000);                            // hysteresis latched
        Assert.That(schedule.HysteresisLatched, Is.True);

        schedule.SetFluxAlpha(0.3);
        Assert.That(schedule.FluxAlpha, Is.EqualTo(0.3));
        foreach (AlphaMode mode in Enum.GetValues<AlphaMode>())
        {
            schedule.Mode = mode;
            foreach (long seqLen in new long[] { 1, 64, 16000, 20000, 1_000_000 })
            {
                Assert.That(schedule.Evaluate(seqLen), Is.EqualTo(new AlphaDecision(0.3, AlphaSource.Override, 1, false)), $"{mode}, T {seqLen}");
            }
        }

        schedule.Mode = AlphaMode.Auto;
        schedule.ReportLatency(TimeSpan.Zero);               // ignored while the override is set
        Assert.That(schedule.AlphaOffset, Is.EqualTo(1.0));
        Assert.That(schedule.HysteresisLatched, Is.True, "the override leaves hysteresis state alone");

        schedule.ClearFluxAlpha();
        Assert.That(schedule.FluxAlpha, Is.Null);
        Assert.That(schedule.Evaluate(100).Alpha, Is.EqualTo(1.0), "the rules are back: ramp + offset 1");
    }

    [Test]
    public void ReportsOutsideAutoModeAreIgnored()
    {
        var controller = new LatencyControllerOptions { TargetLatency = TimeSpan.FromMilliseconds(10) };
        var schedule = new AlphaSchedule(Ramp64To20000 with { Mode = AlphaMode.Dense, LatencyController = controller });
        schedule.ReportLatency(TimeSpan.FromSeconds(1));
        Assert.That(schedule.AlphaOffset, Is.EqualTo(0.0));
    }

    [TestCase(-0.1)]
    [TestCase(1.1)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void AnExplicitAlphaOutsideZeroToOneIsRejected(double alpha)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => new AlphaSchedule(Ramp64To20000).SetFluxAlpha(alpha));
        Assert.That(exception!.ParamName, Is.EqualTo("alpha"));
    }
}
