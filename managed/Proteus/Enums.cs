namespace Proteus;

/// <summary>A compute backend of libproteus.</summary>
public enum Backend
{
    /// <summary>The CPU reference backend, always compiled in.</summary>
    Cpu = 0,

    /// <summary>NVIDIA GPUs through CUDA.</summary>
    Cuda = 1,

    /// <summary>AMD GPUs through HIP.</summary>
    Hip = 2,
}

/// <summary>The element type of a device buffer or tensor.</summary>
public enum DType
{
    /// <summary>IEEE 754 binary32 (<see cref="float"/>).</summary>
    Float32 = 0,

    /// <summary>IEEE 754 binary16 (<see cref="System.Half"/>).</summary>
    Float16 = 1,

    /// <summary>bfloat16: the upper 16 bits of a binary32 (<see cref="Proteus.BFloat16"/>).</summary>
    BFloat16 = 2,

    /// <summary>Unsigned bytes (<see cref="byte"/>), for masks such as the active rows.</summary>
    UInt8 = 3,
}

/// <summary>How the candidate set C(i) of a query row is built (SPEC §3).</summary>
public enum CandidatePolicy
{
    /// <summary>The local window, the A largest multiples of the anchor stride before the window, and the top-K salience positions before the window.</summary>
    Aligned = 0,

    /// <summary>The local window, anchors max(0, i − s·S) for s = 1..A, and the top-K salience positions before the window.</summary>
    Relative = 1,

    /// <summary>The original Python Proteus candidate list, truncated to the <see cref="FluxParameters.SeedCap"/> smallest indices; for reproducing its numbers.</summary>
    Seed = 2,
}

/// <summary>How the GPU kernel walks the query rows. The CPU backend accepts and ignores it.</summary>
public enum LaunchMode
{
    /// <summary>Chosen by the library from the density of active rows.</summary>
    Auto = 0,

    /// <summary>One program per (batch, head, query tile).</summary>
    Tile = 1,

    /// <summary>Active rows compacted, one program per group of rows.</summary>
    Row = 2,
}

/// <summary>The status a libproteus call returned; every status but <see cref="Ok"/> is raised as a <see cref="ProteusException"/>.</summary>
public enum Status
{
    /// <summary>The call succeeded.</summary>
    Ok = 0,

    /// <summary>An argument is wrong (shape, stride, range, aliasing); see <see cref="ProteusInvalidArgumentException"/>.</summary>
    InvalidArgument = 1,

    /// <summary>The element type is not supported by the operation.</summary>
    UnsupportedDType = 2,

    /// <summary>The head dim is not one the library supports (16, 32, 64, 128).</summary>
    UnsupportedHeadDim = 3,

    /// <summary>A device allocation failed; see <see cref="ProteusOutOfMemoryException"/>.</summary>
    OutOfMemory = 4,

    /// <summary>The device or its runtime reported an error.</summary>
    DeviceError = 5,

    /// <summary>A native handle was null, already destroyed, or not one of the library's.</summary>
    InvalidHandle = 6,

    /// <summary>A buffer belongs to another device than the one the call runs on.</summary>
    DeviceMismatch = 7,

    /// <summary>The backend is not compiled in, or has no device with that ordinal.</summary>
    BackendUnavailable = 8,

    /// <summary>A bug in libproteus; please report it with the message.</summary>
    InternalError = 9,
}
