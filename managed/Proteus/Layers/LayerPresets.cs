namespace Proteus;

/// <summary>Named layer configurations: the benchmark shapes the issue and the original Proteus report.</summary>
public static class LayerPresets
{
    /// <summary>
    /// The original Python Proteus's benchmark layer: d_model 512, 32 heads of D 16, 64 gates; DNA on
    /// (θ 0.3, blend 0.6, τ 0.2, usage boost 0.15); token sparsity on (keep base 0.45 on the sqrt schedule,
    /// minimum 0.2, guard T/128); heads per token 8 → 2 from T 256; L_base 512 on the sqrt schedule, L_min
    /// 128, L_max 2048. At long T it keeps about 20 % of the tokens and 2 heads per token.
    /// </summary>
    public static ProteusLayerOptions Original { get; } = new()
    {
        ModelDim = 512,
        Heads = 32,
        Gates = 64,
        Dna = new DnaOptions { Theta = 0.3f, Blend = 0.6f, Tau = 0.2f, UsageBoost = 0.15f },
        TokenKeep = new TokenKeepOptions { Base = 0.45, Curve = KeepRatioCurve.Sqrt, MinRatio = 0.2 },
        GuardEvery = 128,
        HeadsPerToken = new HeadsPerTokenOptions { MaxHeads = 8, MinHeads = 2, SeqLow = 64, SeqHigh = 256 },
        Budget = new FluxBudgetOptions
        {
            Target = ShortlistTarget.Sqrt,
            BaseLength = 512,
            MinLength = 128,
            MaxLength = 2048,
            Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna,
        },
    };

    /// <summary>The wide layer of the second line: d_model 1024, 16 heads of D 64, DNA on with the defaults.</summary>
    public static ProteusLayerOptions Wide { get; } = new()
    {
        ModelDim = 1024,
        Heads = 16,
        Dna = new DnaOptions(),
    };

    /// <summary>The preset called <paramref name="name"/> ("original" or "wide").</summary>
    /// <exception cref="ArgumentException">No such preset.</exception>
    public static ProteusLayerOptions Named(string name) => name switch
    {
        "original" => Original,
        "wide" => Wide,
        _ => throw new ArgumentException($"No layer preset '{name}': original or wide.", nameof(name)),
    };

    /// <summary>The preset names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["original", "wide"];
}
