using System.Globalization;
using System.Text.Json;

namespace Proteus;

/// <summary>A key of the original Python Proteus configuration that cannot be read: unknown, of the wrong type, out of range, or contradicting another key.</summary>
public sealed class OriginalConfigException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="key">The offending key, as the original spells it.</param>
    /// <param name="message">What is wrong with it.</param>
    public OriginalConfigException(string key, string message)
        : base($"{key}: {message}", key)
    {
        Key = key;
    }

    /// <summary>The offending key, as the original spells it ("attn_linear_window").</summary>
    public string Key { get; }
}

/// <summary>
/// The migration path from the original Python Proteus (docs/migration.md): a JSON object with the
/// original's <c>ModelConfig</c> field names becomes <see cref="ProteusLayerOptions"/> with the original's
/// semantics: the Seed budgets (docs/flux-attention.md Appendix A), hysteresis on, and one seq_low driving both
/// the α ramp and the heads-per-token schedule. A value the original would replace by its default
/// (<c>x or default</c> in Python: 0, null) is replaced the same way here; everything else is used as given.
/// <para>Keys read (null is the same as absent; the older <c>dna</c> spelling of each <c>proto</c> key is accepted, both at once only when equal):</para>
/// <list type="bullet">
/// <item>layer: <c>d_model</c> (required), <c>n_head</c>, <c>attn_h_total</c>, <c>attn_gates</c>, <c>bias</c>,
/// <c>norm_type</c>, <c>norm_eps</c>, <c>attn_use_rope</c>, <c>attn_rope_base</c>, <c>n_ctx</c>, <c>mlp_hidden_mult</c> (4 only);</item>
/// <item>α and heads: <c>attn_mode</c> ("auto" only), <c>attn_linear_switch_ctx</c>, <c>attn_active_seq_low</c>,
/// <c>attn_active_seq_high</c>, <c>attn_h_active_min</c>, <c>attn_h_active_max</c>, <c>attn_active_curve</c>,
/// <c>attn_linear_head_k</c>, <c>attn_router_top_p</c>;</item>
/// <item>budgets: <c>attn_linear_L</c>, <c>attn_linear_L_base</c>, <c>attn_linear_L_min</c>, <c>attn_linear_L_max</c>,
/// <c>attn_linear_L_schedule</c>, <c>attn_linear_L_scale</c>, <c>attn_linear_mem_budget_mb</c>, <c>attn_linear_window</c>,
/// <c>attn_linear_anchor_stride</c> (older <c>attn_linear_anchors_every</c>), <c>attn_linear_policy</c>,
/// <c>attn_linear_piece_local_frac</c>, <c>attn_linear_piece_anchor_frac</c>, <c>attn_linear_piece_proto_frac</c>;</item>
/// <item>tokens: <c>attn_token_sparse</c>, <c>attn_token_keep_ratio</c>, <c>attn_linear_token_keep_schedule</c>,
/// <c>attn_linear_token_keep_min_ratio</c>, <c>attn_linear_token_keep_ref</c>, <c>attn_token_keep_guard</c>,
/// <c>attn_token_keep_min</c> (at most the guard), <c>attn_token_keep_threshold</c> (0 only);</item>
/// <item>DNA: <c>attn_proto_enable</c>, <c>attn_proto_decay</c>, <c>attn_proto_threshold</c>, <c>attn_proto_blend</c>,
/// <c>attn_proto_temp</c>, <c>attn_proto_usage_boost</c>, <c>attn_proto_init_scale</c> (0.02 only);</item>
/// <item>features this library does not have, accepted only switched off: <c>attn_memory_enable</c> (false),
/// <c>attn_quantize_int8</c> (false), <c>attn_linear_latency_budget_ms</c> (null);</item>
/// <item>accepted and without effect on inference: <c>vocab_size</c>, <c>n_layer</c>, <c>p_dropout</c>, <c>attn_variant</c>,
/// <c>moe_n_experts</c>, <c>use_sdpa</c>, <c>attn_track_latency</c>, <c>attn_router_noise_std</c>, <c>attn_router_lambda</c>,
/// <c>attn_router_beta</c>, <c>attn_router_reg_mode</c>, <c>attn_linear_L_scale_max</c>, <c>attn_linear_latency_shrink</c>,
/// <c>attn_linear_latency_growth</c> (the last three move the scale only under a latency budget).</item>
/// </list>
/// Any other key is an <see cref="OriginalConfigException"/> naming it.
/// </summary>
public static class OriginalConfig
{
    private static readonly Dictionary<string, string> OlderSpellings = new(StringComparer.Ordinal)
    {
        ["attn_dna_enable"] = "attn_proto_enable",
        ["attn_dna_decay"] = "attn_proto_decay",
        ["attn_dna_threshold"] = "attn_proto_threshold",
        ["attn_dna_blend"] = "attn_proto_blend",
        ["attn_dna_temp"] = "attn_proto_temp",
        ["attn_dna_usage_boost"] = "attn_proto_usage_boost",
        ["attn_dna_init_scale"] = "attn_proto_init_scale",
        ["attn_linear_piece_dna_frac"] = "attn_linear_piece_proto_frac",
        ["attn_linear_anchors_every"] = "attn_linear_anchor_stride",
    };

    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        "d_model", "n_head", "attn_h_total", "attn_gates", "bias", "norm_type", "norm_eps", "attn_use_rope",
        "attn_rope_base", "n_ctx", "mlp_hidden_mult",
        "attn_mode", "attn_linear_switch_ctx", "attn_active_seq_low", "attn_active_seq_high", "attn_h_active_min",
        "attn_h_active_max", "attn_active_curve", "attn_linear_head_k", "attn_router_top_p",
        "attn_linear_L", "attn_linear_L_base", "attn_linear_L_min", "attn_linear_L_max", "attn_linear_L_schedule",
        "attn_linear_L_scale", "attn_linear_mem_budget_mb", "attn_linear_window", "attn_linear_anchor_stride",
        "attn_linear_policy", "attn_linear_piece_local_frac", "attn_linear_piece_anchor_frac", "attn_linear_piece_proto_frac",
        "attn_token_sparse", "attn_token_keep_ratio", "attn_linear_token_keep_schedule", "attn_linear_token_keep_min_ratio",
        "attn_linear_token_keep_ref", "attn_token_keep_guard", "attn_token_keep_min", "attn_token_keep_threshold",
        "attn_proto_enable", "attn_proto_decay", "attn_proto_threshold", "attn_proto_blend", "attn_proto_temp",
        "attn_proto_usage_boost", "attn_proto_init_scale",
        "attn_memory_enable", "attn_quantize_int8", "attn_linear_latency_budget_ms",
        "vocab_size", "n_layer", "p_dropout", "attn_variant", "moe_n_experts", "use_sdpa", "attn_track_latency",
        "attn_router_noise_std", "attn_router_lambda", "attn_router_beta", "attn_router_reg_mode",
        "attn_linear_L_scale_max", "attn_linear_latency_shrink", "attn_linear_latency_growth",
    };

    /// <summary>Reads the original's configuration from JSON text (one object).</summary>
    /// <param name="json">The configuration, e.g. <c>{"d_model": 512, "n_head": 32, "attn_linear_L_base": 512}</c>.</param>
    /// <returns>The layer options with the original's semantics.</returns>
    /// <exception cref="OriginalConfigException">A key is unknown, of the wrong type, out of range or contradicts another.</exception>
    /// <exception cref="JsonException">The text is not JSON.</exception>
    public static ProteusLayerOptions ToLayerOptions(string json)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        return ToLayerOptions(document.RootElement);
    }

    /// <summary>Reads the original's configuration from a JSON object.</summary>
    /// <param name="config">The configuration object.</param>
    /// <returns>The layer options with the original's semantics.</returns>
    /// <exception cref="OriginalConfigException">A key is unknown, of the wrong type, out of range or contradicts another.</exception>
    /// <exception cref="ArgumentException"><paramref name="config"/> is not an object.</exception>
    public static ProteusLayerOptions ToLayerOptions(JsonElement config)
    {
        if (config.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException($"The configuration must be a JSON object, not {config.ValueKind}.", nameof(config));
        }
        var keys = new Keys(config);

        // The layer.
        long modelDim = keys.Int("d_model") is { } c && c > 0 ? c : throw new OriginalConfigException("d_model", "required, > 0");
        long heads = keys.Int("attn_h_total") is > 0 and { } total ? total : keys.Int("n_head") is > 0 and { } n ? n : 1;
        if (heads > int.MaxValue || modelDim % heads != 0)
        {
            throw new OriginalConfigException(keys.Has("attn_h_total") ? "attn_h_total" : "n_head", $"d_model {modelDim} is not a multiple of {heads} heads");
        }
        long headDim = modelDim / heads;
        if (keys.Int("mlp_hidden_mult") is { } mult && mult != 4)
        {
            throw new OriginalConfigException("mlp_hidden_mult", $"{mult}: the block's MLP is 4·d_model wide");
        }
        string norm = (keys.Text("norm_type") is { Length: > 0 } text ? text : "layernorm").ToLowerInvariant();
        NormKind normKind = norm switch
        {
            "rmsnorm" => NormKind.Rms,
            "layernorm" => NormKind.Layer,
            _ => throw new OriginalConfigException("norm_type", $"'{norm}': layernorm or rmsnorm"),
        };
        keys.Int("n_layer");
        keys.Int("vocab_size");
        keys.Int("moe_n_experts");
        keys.Number("p_dropout");
        keys.Text("attn_variant");
        keys.Flag("use_sdpa");
        keys.Flag("attn_track_latency");
        keys.Number("attn_router_noise_std");
        keys.Number("attn_router_lambda");
        keys.Number("attn_router_beta");
        keys.Text("attn_router_reg_mode");
        keys.Number("attn_linear_L_scale_max");
        keys.Number("attn_linear_latency_shrink");
        keys.Number("attn_linear_latency_growth");
        keys.Off("attn_memory_enable");
        keys.Off("attn_quantize_int8");
        if (keys.Number("attn_linear_latency_budget_ms") is not null)
        {
            throw new OriginalConfigException("attn_linear_latency_budget_ms", "the original's latency controller is not supported: leave it null and use AlphaScheduleOptions.LatencyController");
        }
        if ((keys.Text("attn_mode") ?? "auto").ToLowerInvariant() is var mode && mode is not ("auto" or ""))
        {
            throw new OriginalConfigException("attn_mode", $"'{mode}': only auto is supported");
        }

        // α and heads per token: one seq_low for both.
        long seqLow = keys.Int("attn_active_seq_low") is > 0 and { } low ? low : Math.Max(64, headDim);
        long seqHigh = keys.Int("attn_active_seq_high") is > 0 and { } high ? high : keys.Int("n_ctx") is > 0 and { } ctx ? ctx : 4 * seqLow;
        seqHigh = Math.Max(seqHigh, seqLow);
        long switchContext = keys.Int("attn_linear_switch_ctx") is { } sw && sw != 0 ? sw : AlphaRamp.DefaultSwitchContext;
        if (switchContext <= seqLow)
        {
            throw new OriginalConfigException("attn_linear_switch_ctx", $"{switchContext} must exceed seq_low {seqLow} (attn_active_seq_low, or max(64, D))");
        }
        long maxHeads = keys.Int("attn_h_active_max") is > 0 and { } hmax ? hmax : Math.Min(16, heads);
        maxHeads = Math.Clamp(maxHeads, 1, heads);
        long minHeads = keys.Int("attn_h_active_min") is > 0 and { } hmin ? hmin : Math.Max(1, Math.Min(2, maxHeads));
        minHeads = Math.Clamp(minHeads, 1, maxHeads);
        double curve = keys.Number("attn_active_curve") is > 0 and { } cv ? cv : keys.Has("attn_active_curve") ? 1.0 : 0.25;
        long headK = Math.Clamp(keys.Int("attn_linear_head_k") is { } hk && hk != 0 ? hk : 2, 1, heads);
        double topP = keys.Has("attn_router_top_p") ? Math.Clamp(keys.Number("attn_router_top_p") ?? 0, 0, 1) : 0.9;
        if (keys.Int("attn_gates") is > 0 and { } g && g < heads)
        {
            throw new OriginalConfigException("attn_gates", $"{g} gates are fewer than {heads} heads");
        }

        var alpha = new AlphaScheduleOptions
        {
            SeqLow = seqLow,
            SwitchContext = switchContext,
            Hysteresis = true,
            InitialBudgetScale = Math.Max(0.1, keys.Number("attn_linear_L_scale") is { } s && s != 0 ? s : 1.0),
        };
        var headsPerToken = new HeadsPerTokenOptions
        {
            SeqLow = seqLow,
            // The original's seq_high = seq_low is a step at seq_low; seq_low + 1 is the same step for every integer T.
            SeqHigh = seqHigh > seqLow ? seqHigh : seqLow + 1,
            MaxHeads = (int)maxHeads,
            MinHeads = (int)minHeads,
            Curve = curve,
            HeadK = (int)headK,
            NucleusTopP = topP > 0 ? topP : null,
        };

        bool dna = keys.Flag("attn_proto_enable") ?? false;
        var options = new ProteusLayerOptions
        {
            ModelDim = modelDim,
            Heads = (int)heads,
            Gates = keys.Int("attn_gates") is > 0 and { } gates ? (int)gates : null,
            Bias = keys.Flag("bias") ?? false,
            Norm = normKind,
            NormEps = (float)(keys.Number("norm_eps") ?? 1e-5),
            Rope = (keys.Flag("attn_use_rope") ?? true) && headDim % 2 == 0
                ? new RopeOptions { Base = (float)(keys.Number("attn_rope_base") is > 0 and { } rb ? rb : 10000.0) }
                : null,
            Alpha = alpha,
            HeadsPerToken = headsPerToken,
            Budget = Budget(keys, dna),
            TokenKeep = TokenKeep(keys),
            Dna = dna ? Dna(keys) : null,
        };
        keys.RejectUnread();
        options.Validate();
        return options;
    }

    // Appendix A's configuration, resolved as the original resolves it.
    private static FluxBudgetOptions Budget(Keys keys, bool dna)
    {
        long linear = keys.Int("attn_linear_L") is { } l && l != 0 ? Math.Max(1, l) : 512;
        long lBase = Math.Max(1, keys.Int("attn_linear_L_base") is { } b && b != 0 ? b : linear);
        long lMin = Math.Max(1, keys.Int("attn_linear_L_min") is { } mn && mn != 0 ? mn : Math.Min(64, lBase));
        // SPEC Appendix A: L_max defaults to L_base; an explicit attn_linear_L stands in for it as in the original.
        long lMax = Math.Max(lMin, keys.Int("attn_linear_L_max") ?? (keys.Has("attn_linear_L") ? linear : lBase));
        long? windowBase = keys.Int("attn_linear_window") is { } w ? (w > 0 ? w : null) : FluxBudgetOptions.DefaultWindowBase;
        long stride = Math.Max(0, keys.Int("attn_linear_anchor_stride") ?? FluxBudgetOptions.DefaultAnchorStride);

        string schedule = (keys.Text("attn_linear_L_schedule") is { Length: > 0 } t ? t : "fixed").ToLowerInvariant();
        ShortlistTarget target = schedule switch
        {
            "fixed" => ShortlistTarget.Fixed,
            "sqrt" => ShortlistTarget.Sqrt,
            "log" => ShortlistTarget.Log,
            "mem_cap" => ShortlistTarget.Budget,
            _ => throw new OriginalConfigException("attn_linear_L_schedule", $"'{schedule}': fixed, sqrt, log or mem_cap"),
        };
        double? memoryBudget = keys.Number("attn_linear_mem_budget_mb");
        if (target == ShortlistTarget.Budget && memoryBudget is not > 0)
        {
            throw new OriginalConfigException("attn_linear_mem_budget_mb", "mem_cap needs a budget > 0 (MB)");
        }

        ShortlistPieces pieces = Pieces(keys.Text("attn_linear_policy"));
        if (pieces.HasFlag(ShortlistPieces.Dna) && !dna)
        {
            throw new OriginalConfigException("attn_linear_policy", "names the proto piece, whose salience needs attn_proto_enable true");
        }
        double local = Math.Clamp(keys.Number("attn_linear_piece_local_frac") is { } fl && fl != 0 ? fl : 0.6, 0, 1);
        double anchors = Math.Clamp(keys.Number("attn_linear_piece_anchor_frac") is { } fa && fa != 0 ? fa : 0.3, 0, 1);
        double? proto = keys.Number("attn_linear_piece_proto_frac") is { } fp ? Math.Clamp(fp, 0, 1) : null;
        var options = new FluxBudgetOptions
        {
            Policy = BudgetPolicy.Seed,
            Target = target,
            Pieces = pieces,
            BaseLength = lBase,
            MinLength = lMin,
            MaxLength = lMax,
            WindowBase = windowBase,
            AnchorStride = stride,
            LocalFraction = local,
            AnchorFraction = anchors,
            DnaFraction = proto,
            CostBudget = target == ShortlistTarget.Budget ? FluxBudgetOptions.SeedMemoryBudget(memoryBudget!.Value) : null,
        };
        try
        {
            _ = new FluxBudget(options);  // the relations between the values, reported under the original's key
        }
        catch (ArgumentException e)
        {
            string key = e.ParamName switch
            {
                nameof(FluxBudgetOptions.LocalFraction) => "attn_linear_piece_local_frac",
                nameof(FluxBudgetOptions.AnchorFraction) => "attn_linear_piece_anchor_frac",
                nameof(FluxBudgetOptions.DnaFraction) => keys.Spelling("attn_linear_piece_proto_frac"),
                nameof(FluxBudgetOptions.Pieces) => keys.Spelling("attn_linear_anchor_stride"),
                _ => "attn_linear_L_max",
            };
            throw new OriginalConfigException(key, e.Message);
        }
        return options;
    }

    // The original's attn_linear_policy: names joined by ',', '|' or '+'; local when named or when nothing else is.
    private static ShortlistPieces Pieces(string? policy)
    {
        var pieces = ShortlistPieces.None;
        foreach (string name in (policy ?? "local+anchors").ToLowerInvariant().Split([',', '|', '+'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            pieces |= name switch
            {
                "local" or "window" => ShortlistPieces.Local,
                "anchors" or "anchor" or "global" => ShortlistPieces.Anchors,
                "proto" or "prototype" or "semantic" or "dna" => ShortlistPieces.Dna,
                _ => throw new OriginalConfigException("attn_linear_policy", $"unknown piece '{name}' (local, anchors, proto)"),
            };
        }
        if (pieces == ShortlistPieces.None)
        {
            pieces = ShortlistPieces.Local | ShortlistPieces.Anchors;
        }
        return (pieces & (ShortlistPieces.Anchors | ShortlistPieces.Dna)) == 0 ? pieces | ShortlistPieces.Local : pieces;
    }

    private static TokenKeepOptions? TokenKeep(Keys keys)
    {
        bool sparse = keys.Flag("attn_token_sparse") ?? false;
        double keepBase = Math.Clamp(keys.Number("attn_token_keep_ratio") is { } r && r != 0 ? r : 1.0, 0, 1);
        string schedule = (keys.Text("attn_linear_token_keep_schedule") is { Length: > 0 } t ? t : "sqrt").ToLowerInvariant();
        KeepRatioCurve curve = schedule switch
        {
            "sqrt" => KeepRatioCurve.Sqrt,
            "log" => KeepRatioCurve.Log,
            "fixed" => KeepRatioCurve.Fixed,
            _ => throw new OriginalConfigException("attn_linear_token_keep_schedule", $"'{schedule}': fixed, sqrt or log"),
        };
        double minRatio = Math.Min(Math.Max(keys.Number("attn_linear_token_keep_min_ratio") is { } m && m != 0 ? m : 0.2, 0), keepBase);
        long reference = keys.Int("attn_linear_token_keep_ref") is { } rf && rf != 0 ? rf : 2048;
        long guard = Math.Max(1, keys.Int("attn_token_keep_guard") is { } gd && gd != 0 ? gd : 1);
        if (keys.Int("attn_token_keep_min") is { } keepMin && keepMin > guard)
        {
            throw new OriginalConfigException("attn_token_keep_min", $"{keepMin} above the guard {guard}: a separate minimum is not supported");
        }
        if (keys.Number("attn_token_keep_threshold") is { } threshold && threshold > 0)
        {
            throw new OriginalConfigException("attn_token_keep_threshold", $"{threshold}: an importance threshold is not supported (0 only)");
        }
        if (!sparse)
        {
            return null;
        }
        if (keepBase <= 0 || reference < 1 || guard > int.MaxValue)
        {
            throw new OriginalConfigException(keepBase <= 0 ? "attn_token_keep_ratio" : reference < 1 ? "attn_linear_token_keep_ref" : "attn_token_keep_guard", "out of range");
        }
        return new TokenKeepOptions { Base = keepBase, Curve = curve, MinRatio = minRatio, Reference = reference, Guard = (int)guard };
    }

    private static DnaOptions Dna(Keys keys)
    {
        if (keys.Number("attn_proto_init_scale") is { } init && init != 0.02)
        {
            throw new OriginalConfigException(keys.Spelling("attn_proto_init_scale"), $"{init}: prototypes start at N(0, 1)·0.02");
        }
        try
        {
            return new DnaOptions
            {
                Decay = (float)(keys.Number("attn_proto_decay") ?? 0.97),
                Theta = (float)(keys.Number("attn_proto_threshold") ?? 0.25),
                Blend = (float)(keys.Number("attn_proto_blend") ?? 0.6),
                Tau = (float)Math.Max(keys.Number("attn_proto_temp") ?? 0.2, 1e-3),
                UsageBoost = (float)Math.Max(keys.Number("attn_proto_usage_boost") ?? 0, 0),
            };
        }
        catch (ArgumentOutOfRangeException e)
        {
            string key = e.ParamName switch
            {
                nameof(DnaOptions.Decay) => "attn_proto_decay",
                nameof(DnaOptions.Theta) => "attn_proto_threshold",
                nameof(DnaOptions.Blend) => "attn_proto_blend",
                _ => "attn_proto_temp",
            };
            throw new OriginalConfigException(keys.Spelling(key), e.Message);
        }
    }

    /// <summary>The object's keys, canonical spelling → value, with the ones read so far.</summary>
    private sealed class Keys
    {
        private readonly Dictionary<string, (string Spelling, JsonElement Value)> _values = new(StringComparer.Ordinal);
        private readonly HashSet<string> _read = new(StringComparer.Ordinal);

        public Keys(JsonElement config)
        {
            foreach (JsonProperty property in config.EnumerateObject())
            {
                string canonical = OlderSpellings.TryGetValue(property.Name, out string? newer) ? newer : property.Name;
                if (!Known.Contains(canonical))
                {
                    throw new OriginalConfigException(property.Name, "not a key this library knows (docs/migration.md lists them)");
                }
                if (_values.TryGetValue(canonical, out var earlier))
                {
                    if (earlier.Spelling == property.Name)
                    {
                        throw new OriginalConfigException(property.Name, "given twice");
                    }
                    if (!JsonElement.DeepEquals(earlier.Value, property.Value))
                    {
                        throw new OriginalConfigException(property.Name, $"contradicts {earlier.Spelling} ({earlier.Value.GetRawText()} vs {property.Value.GetRawText()})");
                    }
                    continue;
                }
                if (property.Value.ValueKind != JsonValueKind.Null)
                {
                    _values[canonical] = (property.Name, property.Value);
                }
            }
        }

        public bool Has(string key) => _values.ContainsKey(key);

        public string Spelling(string key) => _values.TryGetValue(key, out var entry) ? entry.Spelling : key;

        public long? Int(string key)
        {
            if (Get(key) is not { } value)
            {
                return null;
            }
            return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long n)
                ? n
                : throw new OriginalConfigException(Spelling(key), $"{value.GetRawText()} is not an integer");
        }

        public double? Number(string key)
        {
            if (Get(key) is not { } value)
            {
                return null;
            }
            return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double x) && double.IsFinite(x)
                ? x
                : throw new OriginalConfigException(Spelling(key), $"{value.GetRawText()} is not a finite number");
        }

        public bool? Flag(string key)
        {
            if (Get(key) is not { } value)
            {
                return null;
            }
            return value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new OriginalConfigException(Spelling(key), $"{value.GetRawText()} is not true or false"),
            };
        }

        public string? Text(string key)
        {
            if (Get(key) is not { } value)
            {
                return null;
            }
            return value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : throw new OriginalConfigException(Spelling(key), $"{value.GetRawText()} is not a string");
        }

        /// <summary>A feature this library does not have: accepted only when off.</summary>
        public void Off(string key)
        {
            if (Flag(key) == true)
            {
                throw new OriginalConfigException(Spelling(key), "this feature of the original is not supported; set it false");
            }
        }

        /// <summary>Every key must have been read: a key known by name but never consulted is a bug here, not the caller's.</summary>
        public void RejectUnread()
        {
            foreach (var (key, entry) in _values)
            {
                if (!_read.Contains(key))
                {
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"{entry.Spelling} is known but was not read."));
                }
            }
        }

        private JsonElement? Get(string key)
        {
            _read.Add(key);
            return _values.TryGetValue(key, out var entry) ? entry.Value : null;
        }
    }
}
