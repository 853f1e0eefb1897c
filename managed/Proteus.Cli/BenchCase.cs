namespace Proteus.Cli;

/// <summary>
/// Which rows of a sparse case are active (SPEC §1's active mask, as a router and a token-keep step
/// would set it). Row (b, h, i) is active when head h is active at token i and token i is kept in
/// batch row b. The choices are random, drawn from the bench's fixed seed, so runs repeat exactly.
/// </summary>
/// <param name="HeadsPerToken">Heads active at each token: that many distinct heads of H, drawn per token.</param>
/// <param name="KeepRatio">Tokens kept per batch row: round(r·T) of them (half away from zero, at least 1), token 0 always, the rest drawn at random.</param>
internal sealed record RowActivity(long HeadsPerToken, double KeepRatio);

/// <summary>One measured configuration: the exact shapes, budgets, active rows and launch configuration.</summary>
/// <param name="Name">The case's name: its mode in a sweep (dense, shortlist, auto, flux), its name in a suite (the comparison script finds cases by it).</param>
/// <param name="Activity">The active rows; null: every row is active (no mask is passed).</param>
/// <param name="Launch">The launch configuration; null: the library's heuristic.</param>
internal sealed record BenchCase(
    string Name, long SeqLen, long Batch, long Heads, long KvHeads, long HeadDim, DType DType,
    FluxParameters Parameters, RowActivity? Activity, LaunchConfig? Launch)
{
    /// <summary>
    /// For an auto case, what the attention's schedule and budget picked at this T (α, L, W, A, K): the
    /// case then runs derived, as an application would, and the run must report these parameters.
    /// </summary>
    public ShortlistBudget? Schedule { get; init; }

    /// <summary>
    /// For an explicit-lists case (<see cref="CandidatePolicy.Explicit"/>): L, the slots of each row's list. Row i lists
    /// min(i + 1, L) random sorted positions of [0, i] (all of them while i + 1 ≤ L), shared by the heads.
    /// </summary>
    public long? ExplicitListLength { get; init; }

    /// <summary>Every row sees its whole causal prefix: with W ≥ T, anchors and DNA (all before the window) are empty.</summary>
    public bool IsDense => ExplicitListLength is null && Parameters.Window >= SeqLen;

    /// <summary>The most candidates a row has: the list length, or the library's shortlist bound.</summary>
    public long CandidateBound => ExplicitListLength is { } slots ? Math.Min(slots, SeqLen) : Shortlist.Bound(Parameters, SeqLen);

    /// <summary>The fraction of rows the case's active mask selects (the tuning cache's density key); null without a mask.</summary>
    public double? ActiveDensity => Activity is { } activity ? activity.KeepRatio * Math.Min(activity.HeadsPerToken, Heads) / Heads : null;

    /// <summary>"dense", "shortlist W341 S256 A171 K0", or "sparse 2/32h 20% W512 S256 A683 K0" (the JSON's label, which scripts read).</summary>
    public string Label
    {
        get
        {
            FluxParameters p = Parameters;
            if (ExplicitListLength is { } slots)
            {
                return $"explicit L{slots}";
            }
            string budgets = IsDense ? "dense" : $"W{p.Window} S{p.AnchorStride} A{p.AnchorCount} K{p.DnaCount}";
            if (Activity is { } activity)
            {
                return $"sparse {activity.HeadsPerToken}/{Heads}h {activity.KeepRatio * 100:0.##}% {budgets}";
            }
            return IsDense ? budgets : $"shortlist {budgets}";
        }
    }

    /// <summary>
    /// The budgets as the table shows them, without the zeros: "W=T" (dense), "W341 S256 A171",
    /// "α.20 W3147 S256 A224" (auto), "2/32h 20% W512 S256 A683" (sparse rows).
    /// </summary>
    public string Budgets
    {
        get
        {
            FluxParameters p = Parameters;
            var parts = new List<string>();
            if (Schedule is { } schedule)
            {
                parts.Add($"α{schedule.Alpha:0.00}");
            }
            if (Activity is { } activity)
            {
                parts.Add($"{activity.HeadsPerToken}/{Heads}h {activity.KeepRatio * 100:0.##}%");
            }
            if (ExplicitListLength is { } slots)
            {
                parts.Add($"lists L{slots}");
            }
            else if (IsDense)
            {
                parts.Add("W=T");
            }
            else
            {
                parts.Add($"W{p.Window}");
                if (p.AnchorCount > 0)
                {
                    parts.Add($"S{p.AnchorStride} A{p.AnchorCount}");
                }
                if (p.DnaCount > 0)
                {
                    parts.Add($"K{p.DnaCount}");
                }
            }
            return string.Join(' ', parts);
        }
    }

    /// <summary>"auto" for the heuristic; else the mode and the fields set, e.g. "tile q64 k64 r16 s2".</summary>
    public string LaunchLabel
    {
        get
        {
            if (Launch is not { } launch)
            {
                return "auto";
            }
            var parts = new List<string> { Names.Of(launch.Mode) };
            foreach ((string key, int value) in new[] { ("q", launch.BlockQ), ("k", launch.BlockK), ("r", launch.RowsPerWarp), ("s", launch.Stages) })
            {
                if (value > 0)
                {
                    parts.Add($"{key}{value}");
                }
            }
            return string.Join(' ', parts);
        }
    }

    /// <summary>"1x16/16x64": B × H / Hkv × D.</summary>
    public string Shape => $"{Batch}x{Heads}/{KvHeads}x{HeadDim}";
}
