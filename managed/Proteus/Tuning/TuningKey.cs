namespace Proteus.Tuning;

/// <summary>
/// Where and with what a launch was tuned (SPEC §8): the device, its runtime and driver, and the library
/// build. An entry is used only under an equal environment; a change of kernel sources (the build's
/// hash) or of driver makes its entries invisible, though they stay in the file for the environment
/// they belong to.
/// </summary>
/// <param name="Backend">The backend tuned on.</param>
/// <param name="DeviceName">The device's name ("NVIDIA H200").</param>
/// <param name="Architecture">The device's architecture ("sm_90").</param>
/// <param name="RuntimeVersion">The GPU runtime the library was built with (0 on the CPU build).</param>
/// <param name="DriverVersion">The driver's version (0 without a driver).</param>
/// <param name="LibraryVersion">The library's version (major.minor.patch).</param>
/// <param name="KernelSourceHash">The hash of the kernel and backend sources compiled in.</param>
public sealed record TuningEnvironment(
    Backend Backend, string DeviceName, string Architecture, int RuntimeVersion, int DriverVersion, string LibraryVersion, string KernelSourceHash)
{
    /// <summary>The environment of <paramref name="device"/> with the loaded library.</summary>
    /// <param name="device">The device tuned on.</param>
    /// <returns>The environment.</returns>
    public static TuningEnvironment Of(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        BuildInfo build = ProteusLibrary.BuildInfo;
        bool gpu = device.Backend != Backend.Cpu;
        return new TuningEnvironment(device.Backend, device.Info.Name, device.Info.Architecture,
            gpu ? build.GpuRuntimeVersion : 0, gpu ? build.GpuDriverVersion : 0, build.Version.ToString(), build.KernelSourceHash);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Backend} {DeviceName} ({Architecture}), runtime {RuntimeVersion}, driver {DriverVersion}, libproteus {LibraryVersion}, kernels {Short(KernelSourceHash)}";

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;
}

/// <summary>
/// The problem part of a tuning cache key (SPEC §8), bucketed so that near problems share a launch:
/// T and Tq to the next power of two, α to tenths, the active-row density to tenths, the budgets W, A
/// and K to the next power of two (W ≥ T, dense, is its own bucket 0).
/// </summary>
/// <param name="DType">The element type.</param>
/// <param name="Policy">The candidate policy (it decides the kernels offered).</param>
/// <param name="HeadDim">D.</param>
/// <param name="Heads">H, the query heads.</param>
/// <param name="KvHeads">Hkv, the key and value heads.</param>
/// <param name="SeqLenBucket">T rounded up to a power of two.</param>
/// <param name="QueryLenBucket">Tq rounded up to a power of two (a decode step is not a prefill).</param>
/// <param name="AlphaTenths">round(10·α) of a derived run; -1 for explicit parameters.</param>
/// <param name="DensityTenths">ceil(10·active density): 10 without a mask, -1 for a mask of unknown density.</param>
/// <param name="WindowBucket">W rounded up to a power of two; 0 when W ≥ T (dense).</param>
/// <param name="AnchorBucket">A rounded up to a power of two (0 stays 0).</param>
/// <param name="DnaBucket">K rounded up to a power of two (0 stays 0).</param>
public sealed record TuningKey(
    DType DType, CandidatePolicy Policy, int HeadDim, int Heads, int KvHeads, long SeqLenBucket, long QueryLenBucket,
    int AlphaTenths, int DensityTenths, long WindowBucket, long AnchorBucket, long DnaBucket)
{
    /// <summary>The key of a problem.</summary>
    /// <param name="signature">The problem.</param>
    /// <returns>Its bucketed key.</returns>
    public static TuningKey Of(FluxSignature signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        FluxParameters p = signature.Parameters;
        return new TuningKey(
            signature.DType, p.Policy, signature.HeadDim, signature.Heads, signature.KvHeads,
            NextPowerOfTwo(signature.SeqLen), NextPowerOfTwo(signature.QueryLen),
            signature.Alpha is { } alpha ? (int)Math.Round(alpha * 10, MidpointRounding.AwayFromZero) : -1,
            DensityBucketOf(signature),
            p.Window >= signature.SeqLen ? 0 : NextPowerOfTwo(p.Window),
            p.AnchorCount == 0 ? 0 : NextPowerOfTwo(p.AnchorCount),
            p.DnaCount == 0 ? 0 : NextPowerOfTwo(p.DnaCount));
    }

    /// <summary>The smallest power of two ≥ <paramref name="value"/> (1 for values ≤ 1).</summary>
    /// <param name="value">A count.</param>
    /// <returns>The bucket.</returns>
    public static long NextPowerOfTwo(long value) =>
        value <= 1 ? 1 : value > 1L << 62 ? long.MaxValue : 1L << (64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(value - 1)));

    /// <inheritdoc/>
    public override string ToString()
    {
        string alpha = AlphaTenths < 0 ? "explicit" : $"α≈{AlphaTenths / 10.0:0.0}";
        string density = DensityTenths switch { 10 => "all rows", < 0 => "masked", _ => $"≤{DensityTenths * 10}% rows" };
        string window = WindowBucket == 0 ? "dense" : $"W≤{WindowBucket}";
        return $"{DType} {Policy} D{HeadDim} H{Heads}/{KvHeads} T≤{SeqLenBucket} Tq≤{QueryLenBucket} {alpha} {density} {window} A≤{AnchorBucket} K≤{DnaBucket}";
    }

    private static int DensityBucketOf(FluxSignature signature) => signature.ActiveDensity switch
    {
        _ when !signature.Masked => 10,
        null => -1,
        { } density => (int)Math.Clamp(Math.Ceiling(Math.Clamp(density, 0, 1) * 10 - 1e-9), 0, 10),
    };
}

/// <summary>
/// A flux attention problem as the tuner and its cache see it: the element type, the shape, the
/// parameters, α of a derived run, and whether (and how densely) an active mask selects rows.
/// </summary>
/// <param name="DType">The element type.</param>
/// <param name="Batch">B.</param>
/// <param name="Heads">H.</param>
/// <param name="KvHeads">Hkv.</param>
/// <param name="SeqLen">T, the keys.</param>
/// <param name="QueryLen">Tq, the query rows.</param>
/// <param name="HeadDim">D.</param>
/// <param name="Parameters">The candidate policy and budgets.</param>
/// <param name="Alpha">α of a derived run; null for explicit parameters.</param>
/// <param name="Masked">Whether an active mask is given.</param>
/// <param name="ActiveDensity">The expected fraction of active rows of the mask, when known.</param>
public sealed record FluxSignature(
    DType DType, long Batch, int Heads, int KvHeads, long SeqLen, long QueryLen, int HeadDim, FluxParameters Parameters,
    double? Alpha = null, bool Masked = false, double? ActiveDensity = null)
{
    /// <summary>The signature of a call on <paramref name="inputs"/> (which the caller has checked are rank 4).</summary>
    internal static FluxSignature Of<T>(FluxInputs<T> inputs, FluxParameters parameters, double? alpha)
        where T : unmanaged => new(
        ElementType<T>.DType, inputs.Query.Shape[0], (int)inputs.Query.Shape[1], (int)inputs.Key.Shape[1], inputs.Key.Shape[2],
        inputs.Query.Shape[2], (int)inputs.Query.Shape[3], parameters, alpha, inputs.Active is not null, inputs.ActiveDensity);
}
