using Proteus.Tests.Support;

namespace Proteus.Tests.Scheduling;

/// <summary>
/// The migration path (issue 13 part 2): a JSON object with the original's ModelConfig names drives α, the
/// heads per token, the keep ratio and the Seed budgets exactly as Appendix A and SPEC §4 say, from T = 64
/// to 1M; unknown and contradictory keys are errors naming the key.
/// </summary>
[TestFixture]
public sealed class MigrationTests
{
    private static IEnumerable<long> Lengths()
    {
        for (long t = 64; t <= 1 << 20; t *= 2)
        {
            yield return t;
            yield return t + 1;
            yield return 3 * t / 2 - 1;
        }
    }

    private const string Benchmark = """
        {
          "d_model": 512, "n_head": 32, "attn_gates": 64, "p_dropout": 0.0, "bias": false,
          "attn_linear_L_base": 512, "attn_linear_L_min": 128, "attn_linear_L_max": 2048,
          "attn_linear_L_schedule": "sqrt", "attn_linear_L_scale": 1.0, "attn_linear_window": 512,
          "attn_linear_anchor_stride": 256, "attn_linear_policy": "local+anchors+proto",
          "attn_linear_switch_ctx": 20000, "attn_active_seq_low": 128, "attn_active_seq_high": 4096,
          "attn_h_active_min": 2, "attn_h_active_max": 8, "attn_linear_head_k": 2, "attn_router_top_p": 0.9,
          "attn_token_sparse": true, "attn_token_keep_ratio": 0.45, "attn_linear_token_keep_min_ratio": 0.2,
          "attn_proto_enable": true, "attn_proto_threshold": 0.3, "attn_proto_usage_boost": 0.15
        }
        """;

    // The older dna spellings, no local piece, L_base 16 with the default window, a scale.
    private const string OlderNoLocal = """
        {
          "d_model": 256, "n_head": 4, "attn_linear_L_base": 16, "attn_linear_L_scale": 0.5,
          "attn_linear_policy": "anchors|dna", "attn_linear_anchors_every": 64, "attn_linear_piece_dna_frac": 0.2,
          "attn_dna_enable": true, "attn_dna_threshold": 0.2
        }
        """;

    public static IEnumerable<TestCaseData> Configs()
    {
        yield return new TestCaseData(Benchmark, new SeedConfig
        {
            Target = TargetSchedule.Sqrt, BaseLength = 512, MinLength = 128, MaxLength = 2048, Dna = true,
        }, 128L, 4096L, 8, 2).SetArgDisplayNames("benchmark layer");
        // D 64: seq_low max(64, 64) = 64, seq_high 4·64; heads max min(16, 4) = 4, min 2.
        yield return new TestCaseData(OlderNoLocal, new SeedConfig
        {
            BaseLength = 16, Scale = 0.5, Local = false, Dna = true, Stride = 64, Fractions = (0.6, 0.3, 0.2),
        }, 64L, 256L, 4, 2).SetArgDisplayNames("older dna names, no local");
    }

    [TestCaseSource(nameof(Configs))]
    public void OriginalNamesDriveTheSeedSchedulesFromT64To1M(string json, SeedConfig seed, long seqLow, long seqHigh, int maxHeads, int minHeads)
    {
        ProteusLayerOptions options = OriginalConfig.ToLayerOptions(json);
        var budget = new FluxBudget(options.Budget);
        var sparsity = new TokenSparsity(options.TokenKeep, options.HeadsPerToken);
        var heads = new HeadsConfig { SeqLow = seqLow, SeqHigh = seqHigh, MaxHeads = maxHeads, MinHeads = minHeads, HeadK = 2, NucleusTopP = 0.9 };
        double[] mean = Enumerable.Range(0, options.Heads).Select(h => 1.0 / (h + 1)).ToArray();
        foreach (long t in Lengths())
        {
            var schedule = new AlphaSchedule(options.Alpha);
            AlphaDecision decision = schedule.Evaluate(t, options.HeadDim);
            double alpha = ScheduleOracle.Alpha(t, seqLow, 20000);
            Assert.That(decision.Alpha, Is.EqualTo(alpha), $"α at T {t}");
            ShortlistBudget b = budget.Compute(t, decision.Alpha, decision.BudgetScale);
            Assert.That(new SeedRow(b.Length, b.Window, b.LocalCap, b.AnchorCount, b.DnaCount), Is.EqualTo(SeedOracle.Budget(seed, t, alpha)), $"budget at T {t}");
            Assert.That(sparsity.HeadsPerToken(t, alpha, mean), Is.EqualTo(ScheduleOracle.HeadsPerToken(heads, t, alpha, mean)), $"heads at T {t}");
        }
    }

    [Test]
    public void OneSeqLowDrivesTheAlphaRampAndTheHeadSchedule()
    {
        ProteusLayerOptions options = OriginalConfig.ToLayerOptions("""{"d_model": 1024, "n_head": 8}""");
        // D 128: seq_low = max(64, 128) = 128 for both; seq_high 4·seq_low without n_ctx.
        Assert.That((options.Alpha.SeqLow, options.HeadsPerToken!.SeqLow, options.HeadsPerToken.SeqHigh), Is.EqualTo((128L, 128L, 512L)));
        ProteusLayerOptions withContext = OriginalConfig.ToLayerOptions("""{"d_model": 1024, "n_head": 8, "n_ctx": 2048}""");
        Assert.That(withContext.HeadsPerToken!.SeqHigh, Is.EqualTo(2048L));
    }

    [Test]
    public void HysteresisIsOn()
    {
        ProteusLayerOptions options = OriginalConfig.ToLayerOptions("""{"d_model": 64, "n_head": 1}""");
        Assert.That(options.Alpha.Hysteresis, Is.True);
        var schedule = new AlphaSchedule(options.Alpha);
        Assert.That(schedule.Evaluate(20000, 64).Alpha, Is.EqualTo(1.0));
        // 16000 ≥ 0.75·20000: held at 0.95 where the ramp says (16000 − 64)/(20000 − 64) ≈ 0.799.
        Assert.That(schedule.Evaluate(16000, 64).Alpha, Is.EqualTo(0.95));
    }

    [Test]
    public void DefaultsFollowTheOriginalModelConfig()
    {
        ProteusLayerOptions options = OriginalConfig.ToLayerOptions("""{"d_model": 512, "n_head": 8}""");
        FluxBudgetOptions b = options.Budget!;
        Assert.That((b.Policy, b.BaseLength, b.WindowBase, b.AnchorStride, b.Pieces, b.Target),
            Is.EqualTo((BudgetPolicy.Seed, 512L, (long?)512, 256L, ShortlistPieces.Local | ShortlistPieces.Anchors, ShortlistTarget.Fixed)));
        Assert.That((options.Alpha.SwitchContext, options.Alpha.InitialBudgetScale), Is.EqualTo((20000L, 1.0)));
        Assert.That((options.TokenKeep, options.Dna), Is.EqualTo(((TokenKeepOptions?)null, (DnaOptions?)null)));
        // attn_linear_window ≤ 0 means L_base.
        Assert.That(OriginalConfig.ToLayerOptions("""{"d_model": 512, "attn_linear_L_base": 100, "attn_linear_window": 0}""").Budget!.WindowBase, Is.Null);
        Assert.That(new FluxBudget(OriginalConfig.ToLayerOptions("""{"d_model": 512, "attn_linear_L_base": 100, "attn_linear_window": -1}""").Budget).WindowBase, Is.EqualTo(100L));
    }

    [TestCase("""{"d_model": 64, "attn_linear_windw": 5}""", "attn_linear_windw")]
    [TestCase("""{"d_model": 64, "attn_h_active": 3}""", "attn_h_active")]
    [TestCase("""{"n_head": 2}""", "d_model")]
    [TestCase("""{"d_model": 64, "attn_linear_window": "wide"}""", "attn_linear_window")]
    [TestCase("""{"d_model": 64, "attn_linear_L_schedule": "cubic"}""", "attn_linear_L_schedule")]
    [TestCase("""{"d_model": 64, "attn_linear_policy": "local+recent"}""", "attn_linear_policy")]
    [TestCase("""{"d_model": 64, "attn_linear_policy": "local+proto"}""", "attn_linear_policy")]
    [TestCase("""{"d_model": 64, "attn_proto_enable": true, "attn_dna_enable": false}""", "attn_dna_enable")]
    [TestCase("""{"d_model": 64, "attn_linear_anchor_stride": 128, "attn_linear_anchors_every": 64}""", "attn_linear_anchors_every")]
    [TestCase("""{"d_model": 64, "attn_linear_switch_ctx": 64}""", "attn_linear_switch_ctx")]
    [TestCase("""{"d_model": 64, "attn_memory_enable": true}""", "attn_memory_enable")]
    [TestCase("""{"d_model": 64, "attn_linear_L_schedule": "mem_cap"}""", "attn_linear_mem_budget_mb")]
    [TestCase("""{"d_model": 64, "n_head": 3}""", "n_head")]
    public void UnknownOrContradictoryKeysAreErrorsNamingTheKey(string json, string key)
    {
        var error = Assert.Throws<OriginalConfigException>(() => OriginalConfig.ToLayerOptions(json));
        Assert.That((error!.Key, error.ParamName), Is.EqualTo((key, key)));
        Assert.That(error.Message, Does.Contain(key));
    }

    [Test]
    public void BothSpellingsAgreeingAreAccepted()
    {
        ProteusLayerOptions options = OriginalConfig.ToLayerOptions("""{"d_model": 64, "attn_proto_enable": true, "attn_dna_enable": true, "attn_proto_blend": 0.5}""");
        Assert.That(options.Dna!.Blend, Is.EqualTo(0.5f));
    }
}
