using System.Globalization;
using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>How q, k, v and o are laid out in device memory.</summary>
public enum StorageLayout
{
    /// <summary>Each tensor its own contiguous [B, H, T, D] buffer.</summary>
    Bhtd,

    /// <summary>Each tensor its own contiguous [B, T, H, D] buffer.</summary>
    Bthd,

    /// <summary>q, k and v in one [B, T, H + 2·Hkv, D] buffer; o [B, T, H, D].</summary>
    FusedQkv,

    /// <summary>
    /// k and v stored once and shared by every batch entry through a batch stride of 0 (the C ABI allows
    /// strides ≥ 0 on inputs); q and o [B, H, T, D].
    /// </summary>
    BroadcastKeyValue,

    /// <summary>
    /// Every tensor (lse, active and salience too) a view at a nonzero element offset with padded
    /// strides; the padding is NaN, so a read of it shows up in the output and a write to it is caught.
    /// </summary>
    PaddedView,
}

/// <summary>One flux attention problem: shapes, layout, budgets and the seed of its random inputs.</summary>
public sealed record FluxCase
{
    /// <summary>Seed of every random choice and input of the case.</summary>
    public required int Seed { get; init; }

    public required DType DType { get; init; }

    public required int Batch { get; init; }

    public required int Heads { get; init; }

    public required int KvHeads { get; init; }

    public required int SeqLen { get; init; }

    public required int HeadDim { get; init; }

    public required StorageLayout Layout { get; init; }

    public required FluxParameters Parameters { get; init; }

    /// <summary>Pass an active mask with some inactive rows.</summary>
    public required bool WithActiveMask { get; init; }

    /// <summary>The share of the mask's rows drawn inactive (AUTO runs the row mode above 0.75).</summary>
    public double InactiveFraction { get; init; } = 0.3;

    /// <summary>The density the caller states for the mask (<see cref="FluxInputs{T}.ActiveDensity"/>); null: none.</summary>
    public double? ActiveDensity { get; init; }

    /// <summary>Ask for the lse output.</summary>
    public required bool WithLse { get; init; }

    /// <summary>Pass salience (always when the DNA count is &gt; 0; sometimes when it is ignored).</summary>
    public required bool WithSalience { get; init; }

    /// <summary>Draw salience from a few levels so that ties decide the DNA keys.</summary>
    public required bool TiedSalience { get; init; }

    public required LaunchMode LaunchMode { get; init; }

    /// <summary>An explicit launch configuration (its mode wins over <see cref="LaunchMode"/>); null: the mode alone.</summary>
    public LaunchConfig? Launch { get; init; }

    /// <summary>Queries are uniform in ±this, keys and values in ±1: sets how peaked the softmax is.</summary>
    public required double QueryAmplitude { get; init; }

    /// <summary>
    /// True when the budgets make C(i) = [0, i] for every row (W ≥ T, and for Seed the caps ≥ T too), so the
    /// result must equal dense causal attention.
    /// </summary>
    public bool CoversSequence =>
        Parameters.Window >= SeqLen
        && (Parameters.Policy != CandidatePolicy.Seed
            || (Parameters.SeedCap >= SeqLen && Parameters.SeedLocalCap >= SeqLen));

    /// <summary>Readable one-line description, used as the test name.</summary>
    public override string ToString()
    {
        var p = Parameters;
        var text = string.Create(CultureInfo.InvariantCulture,
            $"{p.Policy} {DTypes.ShortName(DType)} D{HeadDim} B{Batch} H{Heads}Kv{KvHeads} T{SeqLen} {Layout} W{Format(p.Window)} S{p.AnchorStride} A{p.AnchorCount} K{p.DnaCount}");
        if (p.Policy == CandidatePolicy.Seed)
        {
            text += string.Create(CultureInfo.InvariantCulture, $" L{Format(p.SeedCap)} Lloc{Format(p.SeedLocalCap)}");
        }
        text += WithActiveMask
            ? " masked" + (InactiveFraction == 0.3 ? "" : string.Create(CultureInfo.InvariantCulture, $" {1 - InactiveFraction:0.##} active"))
            : "";
        text += (WithLse ? " lse" : "") + (TiedSalience ? " ties" : "");
        text += p.Scale is { } scale ? string.Create(CultureInfo.InvariantCulture, $" scale{scale:0.###}") : "";
        text += Launch is { } launch
            ? string.Create(CultureInfo.InvariantCulture, $" {launch.Mode} q{launch.BlockQ} k{launch.BlockK} r{launch.RowsPerWarp} s{launch.Stages}")
            : LaunchMode == LaunchMode.Auto ? "" : $" {LaunchMode}";
        return text + $" seed{Seed}";
    }

    private static string Format(long budget) => budget >= FluxParameters.Dense.Window ? "inf" : budget.ToString(CultureInfo.InvariantCulture);
}
