using Proteus.Interop;

namespace Proteus;

/// <summary>
/// The layer operations on one device (SPEC §4–§7; the C ABI header's "Layer operations"): the projections,
/// norms, GELU, RoPE, the router with its DNA blend, the selection of the active rows and the DNA update, the
/// pieces of the drop-in attention layer and block around <see cref="FluxAttention"/>.
/// <para>
/// Each call is validated by the library before any work starts (a rejected call writes nothing) and
/// queued on the device's stream without waiting: read results after <see cref="Device.Synchronize"/> or
/// through <see cref="DeviceBuffer{T}.CopyTo"/>, which waits. 2-D tensors are [rows, columns] with the
/// columns contiguous and any row stride: a [B, T, C] activation whose tokens are evenly spaced is passed as
/// the [B·T, C] view over the same storage.
/// </para>
/// <para>
/// Errors: <see cref="ProteusInvalidArgumentException"/> naming the argument as the library does ("x.shape",
/// "params.eps", "tensors.probs", …), <see cref="ProteusUnsupportedDTypeException"/> for an element type the
/// operation does not take, <see cref="ProteusDeviceMismatchException"/> for a buffer of another device.
/// </para>
/// </summary>
public sealed class LayerOps
{
    /// <summary>Creates the operations for <paramref name="device"/>.</summary>
    /// <param name="device">The device every tensor of a call must live on.</param>
    public LayerOps(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
    }

    /// <summary>The device the operations run on.</summary>
    public Device Device { get; }

    /// <summary>y [M, N] = x [M, K]·weightᵀ [N, K], or with <paramref name="accumulate"/> y ← x·weightᵀ + accumulate·y.</summary>
    /// <typeparam name="T">float, or <see cref="Half"/> / <see cref="BFloat16"/> with float32 accumulation.</typeparam>
    /// <param name="x">[M, K].</param>
    /// <param name="weight">[N, K], as a PyTorch Linear stores it.</param>
    /// <param name="y">[M, N], written; apart from x and weight.</param>
    /// <param name="accumulate">Null: y is overwritten. A factor: y's previous contents times it are added (1 for a residual already in y).</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void Linear<T>(TensorView<T> x, TensorView<T> weight, TensorView<T> y, float? accumulate = null)
        where T : unmanaged
    {
        using var held = new HandleReferences();
        Linear(x.ToNative(held, nameof(x)), weight.ToNative(held, nameof(weight)), null, y.ToNative(held, nameof(y)), accumulate);
    }

    /// <summary>y [M, N] = x [M, K]·weightᵀ [N, K] + bias [N], or with <paramref name="accumulate"/> y ← x·weightᵀ + bias + accumulate·y.</summary>
    /// <typeparam name="T">float, or <see cref="Half"/> / <see cref="BFloat16"/> with float32 accumulation.</typeparam>
    /// <typeparam name="TBias">float, or <typeparamref name="T"/>.</typeparam>
    /// <param name="x">[M, K].</param>
    /// <param name="weight">[N, K], as a PyTorch Linear stores it.</param>
    /// <param name="bias">[N].</param>
    /// <param name="y">[M, N], written; apart from x, weight and bias.</param>
    /// <param name="accumulate">Null: y is overwritten. A factor: y's previous contents times it are added (1 for a residual already in y).</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void Linear<T, TBias>(TensorView<T> x, TensorView<T> weight, TensorView<TBias> bias, TensorView<T> y, float? accumulate = null)
        where T : unmanaged
        where TBias : unmanaged
    {
        using var held = new HandleReferences();
        ProteusTensor nativeBias = bias.ToNative(held, nameof(bias));
        Linear(x.ToNative(held, nameof(x)), weight.ToNative(held, nameof(weight)), &nativeBias, y.ToNative(held, nameof(y)), accumulate);
    }

    /// <summary>proteus_linear over tensors whose buffers the caller holds; <paramref name="bias"/> null for none.</summary>
    private unsafe void Linear(ProteusTensor x, ProteusTensor weight, ProteusTensor* bias, ProteusTensor y, float? accumulate)
    {
        var parameters = new ProteusLinearParams
        {
            StructSize = (uint)sizeof(ProteusLinearParams),
            Flags = accumulate is null ? 0 : (int)ProteusLinearFlags.Accumulate,
            Beta = accumulate ?? 0f,
        };
        NativeStatus.Check(NativeMethods.proteus_linear(Device.Context, &x, &weight, bias, &y, &parameters));
    }

    /// <summary>y = x converted element-wise to y's element type (round to nearest even). Same shape, any strides; y may be x itself.</summary>
    /// <typeparam name="TFrom">x's element type: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <typeparam name="TTo">y's element type: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="x">The input, rank 1 to 4.</param>
    /// <param name="y">The output, x's shape; x exactly, or apart from it.</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void Convert<TFrom, TTo>(TensorView<TFrom> x, TensorView<TTo> y)
        where TFrom : unmanaged
        where TTo : unmanaged
    {
        using var held = new HandleReferences();
        ProteusTensor nativeX = x.ToNative(held, nameof(x));
        ProteusTensor nativeY = y.ToNative(held, nameof(y));
        NativeStatus.Check(NativeMethods.proteus_convert(Device.Context, &nativeX, &nativeY));
    }

    /// <summary>y [M, C] = norm(x [M, C]) per row (LayerNorm or RMSNorm), statistics in float32; y may be x itself.</summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="x">[M, C].</param>
    /// <param name="weight">[C]; null for 1.</param>
    /// <param name="bias">[C]; null for 0. RMSNorm takes none.</param>
    /// <param name="y">[M, C]; x exactly (in place), or apart from it.</param>
    /// <param name="kind">LayerNorm (the block's default) or RMSNorm.</param>
    /// <param name="eps">&gt; 0, added to the variance (or the mean square).</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void Norm<T>(TensorView<T> x, TensorView<float>? weight, TensorView<float>? bias, TensorView<T> y,
        NormKind kind = NormKind.Layer, float eps = 1e-5f)
        where T : unmanaged
    {
        using var held = new HandleReferences();
        ProteusTensor nativeX = x.ToNative(held, nameof(x));
        ProteusTensor nativeWeight = weight?.ToNative(held, nameof(weight)) ?? default;
        ProteusTensor nativeBias = bias?.ToNative(held, nameof(bias)) ?? default;
        ProteusTensor nativeY = y.ToNative(held, nameof(y));
        var parameters = new ProteusNormParams { StructSize = (uint)sizeof(ProteusNormParams), Kind = (int)kind, Eps = eps };
        NativeStatus.Check(NativeMethods.proteus_norm(
            Device.Context, &nativeX, weight is null ? null : &nativeWeight, bias is null ? null : &nativeBias, &nativeY, &parameters));
    }

    /// <summary>y = GELU(x) = x·(1 + erf(x/√2))/2 element-wise, in float32; y may be x itself.</summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="x">[M, N].</param>
    /// <param name="y">[M, N]; x exactly (in place), or apart from it.</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void Gelu<T>(TensorView<T> x, TensorView<T> y)
        where T : unmanaged
    {
        using var held = new HandleReferences();
        ProteusTensor nativeX = x.ToNative(held, nameof(x));
        ProteusTensor nativeY = y.ToNative(held, nameof(y));
        NativeStatus.Check(NativeMethods.proteus_gelu(Device.Context, &nativeX, &nativeY));
    }

    /// <summary>
    /// RoPE in place on x [B, H, T, D]: pair m of token t rotated by the angle (positionOffset + t)·thetaBase^(−2m/D), in float32.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="x">[B, H, T, D], any strides with D contiguous and even (q or k of a <see cref="TensorLayouts"/> view).</param>
    /// <param name="positionOffset">The position of token 0, ≥ 0 (decode: the tokens already in the cache).</param>
    /// <param name="convention">Which elements pair: interleaved (the original Proteus) or half-split (Llama).</param>
    /// <param name="thetaBase">The θ base, &gt; 1.</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void Rope<T>(TensorView<T> x, long positionOffset = 0, RopeConvention convention = RopeConvention.Interleaved,
        float thetaBase = 10000f)
        where T : unmanaged
    {
        using var held = new HandleReferences();
        ProteusTensor nativeX = x.ToNative(held, nameof(x));
        var parameters = new ProteusRopeParams
        {
            StructSize = (uint)sizeof(ProteusRopeParams),
            Convention = (int)convention,
            PositionOffset = positionOffset,
            Base = thetaBase,
        };
        NativeStatus.Check(NativeMethods.proteus_rope(Device.Context, &nativeX, &parameters));
    }

    /// <summary>
    /// The router and, with <see cref="RouterOptions.Dna"/>, the DNA blend (§5, §6) over every token: the final
    /// gate probabilities and whichever of head probabilities, salience and importance are given. Deterministic.
    /// </summary>
    /// <typeparam name="T">The element type of x: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="inputs">The tensors; the outputs apart from the inputs and from each other.</param>
    /// <param name="options">The head count and the DNA blend's options.</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void Router<T>(RouterInputs<T> inputs, RouterOptions options)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        using var held = new HandleReferences();
        var tensors = new ProteusRouterTensors
        {
            StructSize = (uint)sizeof(ProteusRouterTensors),
            X = inputs.X.ToNative(held, "x"),
            Weight = inputs.Weight.ToNative(held, "weight"),
            Prototypes = inputs.Prototypes?.ToNative(held, "prototypes") ?? default,
            Usage = inputs.Usage?.ToNative(held, "usage") ?? default,
            Confidence = inputs.Confidence?.ToNative(held, "confidence") ?? default,
            Probs = inputs.Probs.ToNative(held, "probs"),
            HeadProbs = inputs.HeadProbs?.ToNative(held, "headProbs") ?? default,
            Salience = inputs.Salience?.ToNative(held, "salience") ?? default,
            Importance = inputs.Importance?.ToNative(held, "importance") ?? default,
        };
        ProteusRouterParams parameters = options.ToNative();
        NativeStatus.Check(NativeMethods.proteus_router(Device.Context, &tensors, &parameters));
    }

    /// <summary>
    /// The active mask of a flux call (§4, §5): per batch row the round(keepRatio·T) most important tokens (ties
    /// to the smaller t; at least <paramref name="guard"/>, always the first <paramref name="guard"/>; every token
    /// when keepRatio ≥ 0.999), and per kept token its <paramref name="headsPerToken"/> most probable heads (ties
    /// to the smaller h).
    /// </summary>
    /// <param name="headProbs">[B, T, H], as <see cref="Router{T}"/> writes it.</param>
    /// <param name="importance">[B, T], as <see cref="Router{T}"/> writes it.</param>
    /// <param name="active">[B, H, T], written: 1 active, 0 not (flux attention's <see cref="FluxInputs{T}.Active"/>).</param>
    /// <param name="headsPerToken">k, 1 to H.</param>
    /// <param name="keepRatio">The token keep ratio in (0, 1].</param>
    /// <param name="guard">≥ 1: the fewest tokens a batch row keeps, and the leading positions it always keeps.</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void SelectRows(TensorView<float> headProbs, TensorView<float> importance, TensorView<byte> active, int headsPerToken,
        double keepRatio = 1.0, long guard = 1)
    {
        using var held = new HandleReferences();
        ProteusTensor nativeHeadProbs = headProbs.ToNative(held, nameof(headProbs));
        ProteusTensor nativeImportance = importance.ToNative(held, nameof(importance));
        ProteusTensor nativeActive = active.ToNative(held, nameof(active));
        var parameters = new ProteusSelectParams
        {
            StructSize = (uint)sizeof(ProteusSelectParams),
            HeadsPerToken = headsPerToken,
            KeepRatio = keepRatio,
            Guard = guard,
        };
        NativeStatus.Check(NativeMethods.proteus_select_rows(Device.Context, &nativeHeadProbs, &nativeImportance, &nativeActive, &parameters));
    }

    /// <summary>
    /// The DNA EMA update (§6) of prototypes, usage and confidence, in place, from x and the final gate
    /// probabilities <see cref="Router{T}"/> wrote. Deterministic; it runs only when called.
    /// </summary>
    /// <typeparam name="T">The element type of x: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="x">[B, T, C], the input the router saw.</param>
    /// <param name="probs">[B, T, G], the router's final gate probabilities.</param>
    /// <param name="prototypes">[G, C], updated.</param>
    /// <param name="usage">[G], updated.</param>
    /// <param name="confidence">[G], updated.</param>
    /// <param name="decay">d ∈ [0, 1).</param>
    /// <exception cref="ProteusException">As the class says.</exception>
    public unsafe void DnaUpdate<T>(TensorView<T> x, TensorView<float> probs, TensorView<float> prototypes, TensorView<float> usage,
        TensorView<float> confidence, float decay = 0.97f)
        where T : unmanaged
    {
        using var held = new HandleReferences();
        ProteusTensor nativeX = x.ToNative(held, nameof(x));
        ProteusTensor nativeProbs = probs.ToNative(held, nameof(probs));
        ProteusTensor nativePrototypes = prototypes.ToNative(held, nameof(prototypes));
        ProteusTensor nativeUsage = usage.ToNative(held, nameof(usage));
        ProteusTensor nativeConfidence = confidence.ToNative(held, nameof(confidence));
        var parameters = new ProteusDnaUpdateParams { StructSize = (uint)sizeof(ProteusDnaUpdateParams), Decay = decay };
        NativeStatus.Check(NativeMethods.proteus_dna_update(
            Device.Context, &nativeX, &nativeProbs, &nativePrototypes, &nativeUsage, &nativeConfidence, &parameters));
    }
}
