using Proteus.Interop;

namespace Proteus;

/// <summary>
/// The GPU kernels' launch configuration (what the autotuner searches; <see cref="FluxAttention.LaunchCandidates{T}"/>
/// lists the ones the library offers for a problem). 0 in a field leaves it to the library's heuristic.
/// A mode or field the chosen kernel cannot honour is a <see cref="ProteusInvalidArgumentException"/>
/// naming it (<c>launch.mode</c>, <c>launch.rows_per_warp</c>, …), never ignored. The CPU backend has no
/// launch fields: there it takes <see cref="LaunchMode.Auto"/> (its tile kernel) or <see cref="LaunchMode.Reference"/>
/// (the literal reference, for checks) with every field 0.
/// Values are checked for sign when set; the library checks the rest at the call.
/// </summary>
public sealed record LaunchConfig
{
    private readonly LaunchMode _mode;
    private readonly int _blockQ;
    private readonly int _blockK;
    private readonly int _rowsPerWarp;
    private readonly int _stages;

    /// <summary>How the kernel walks the rows; <see cref="LaunchMode.Auto"/> by default.</summary>
    public LaunchMode Mode
    {
        get => _mode;
        init
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(Mode), value, "Not a launch mode.");
            }
            _mode = value;
        }
    }

    /// <summary>Tile kernel: query rows per program (64 or 128), 0 = heuristic.</summary>
    public int BlockQ
    {
        get => _blockQ;
        init => _blockQ = OptionChecks.AtLeast(value, 0, nameof(BlockQ));
    }

    /// <summary>Tile kernel: keys per tile (32, 64 or 128), 0 = heuristic.</summary>
    public int BlockK
    {
        get => _blockK;
        init => _blockK = OptionChecks.AtLeast(value, 0, nameof(BlockK));
    }

    /// <summary>
    /// Tile kernel: query rows per warp, 16 or 32 (one or two m16 MMA tiles sharing each K/V fragment);
    /// a program runs <see cref="BlockQ"/> / RowsPerWarp warps. 0 = heuristic.
    /// </summary>
    public int RowsPerWarp
    {
        get => _rowsPerWarp;
        init => _rowsPerWarp = OptionChecks.AtLeast(value, 0, nameof(RowsPerWarp));
    }

    /// <summary>Tile kernel: copy pipeline depth (1–3), 0 = heuristic.</summary>
    public int Stages
    {
        get => _stages;
        init => _stages = OptionChecks.AtLeast(value, 0, nameof(Stages));
    }

    /// <summary>The configuration as the C ABI takes it.</summary>
    internal unsafe ProteusLaunchConfig ToNative() => new()
    {
        StructSize = (uint)sizeof(ProteusLaunchConfig),
        Mode = (int)Mode,
        BlockQ = BlockQ,
        BlockK = BlockK,
        RowsPerWarp = RowsPerWarp,
        Stages = Stages,
    };

    /// <summary>A configuration the library reported (resolved or offered), as the C ABI gives it.</summary>
    internal static LaunchConfig FromNative(in ProteusLaunchConfig launch) => new()
    {
        Mode = (LaunchMode)launch.Mode,
        BlockQ = launch.BlockQ,
        BlockK = launch.BlockK,
        RowsPerWarp = launch.RowsPerWarp,
        Stages = launch.Stages,
    };
}
