using Proteus.Interop;

namespace Proteus;

/// <summary>
/// The GPU kernel's launch configuration (what the autotuner searches). 0 in a field leaves it to
/// the library's heuristic; the CPU backend accepts and ignores it all. Values are checked when set.
/// </summary>
public sealed record LaunchConfig
{
    private readonly LaunchMode _mode;
    private readonly int _blockQ;
    private readonly int _blockK;
    private readonly int _warps;
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

    /// <summary>Query rows per tile, ≥ 0 (0 = heuristic).</summary>
    public int BlockQ
    {
        get => _blockQ;
        init => _blockQ = OptionChecks.AtLeast(value, 0, nameof(BlockQ));
    }

    /// <summary>Keys per tile, ≥ 0 (0 = heuristic).</summary>
    public int BlockK
    {
        get => _blockK;
        init => _blockK = OptionChecks.AtLeast(value, 0, nameof(BlockK));
    }

    /// <summary>Warps per program, ≥ 0 (0 = heuristic).</summary>
    public int Warps
    {
        get => _warps;
        init => _warps = OptionChecks.AtLeast(value, 0, nameof(Warps));
    }

    /// <summary>Software pipeline depth, ≥ 0 (0 = heuristic).</summary>
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
        Warps = Warps,
        Stages = Stages,
    };
}
