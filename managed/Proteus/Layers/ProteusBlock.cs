namespace Proteus;

/// <summary>
/// The pre-norm block of SPEC §7 (the original's AttentionBlock): h = x + layer(norm1(x));
/// out = h + fc2(GELU(fc1(norm2(h)))), hidden width 4·C, norms LayerNorm (default) or RMSNorm. Owns its
/// norms' and MLP's weights, the attention layer, and its scratch (grown to the largest B·T, reused).
/// </summary>
/// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
public sealed class ProteusBlock<T> : IDisposable
    where T : unmanaged
{
    private readonly LayerOps _ops;
    private DeviceBuffer<T>? _normed, _hidden, _mlp;
    private long _rows;
    private bool _disposed;

    /// <summary>Creates the block with freshly initialised weights (norms 1 and 0; projections N(0, 0.02), seeded).</summary>
    public ProteusBlock(Device device, ProteusLayerOptions options, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        Attention = new ProteusAttentionLayer<T>(device, options, seed);
        Device = device;
        Options = options;
        _ops = new LayerOps(device);
        long c = options.ModelDim;
        Norm1Weight = Initialisation.Constant(device.Allocate<float>(c), 1f);
        Norm2Weight = Initialisation.Constant(device.Allocate<float>(c), 1f);
        if (options.Bias && options.Norm == NormKind.Layer)
        {
            Norm1Bias = Initialisation.Constant(device.Allocate<float>(c), 0f);
            Norm2Bias = Initialisation.Constant(device.Allocate<float>(c), 0f);
        }
        var random = new Random(seed + 1);
        Fc1 = Initialisation.Normal(device.Allocate<T>(4 * c * c), random, 0.02);
        Fc2 = Initialisation.Normal(device.Allocate<T>(4 * c * c), random, 0.02);
        if (options.Bias)
        {
            Fc1Bias = Initialisation.Constant(device.Allocate<float>(4 * c), 0f);
            Fc2Bias = Initialisation.Constant(device.Allocate<float>(c), 0f);
        }
    }

    /// <summary>The device.</summary>
    public Device Device { get; }

    /// <summary>The configuration.</summary>
    public ProteusLayerOptions Options { get; }

    /// <summary>The attention layer (its weights under "attn.").</summary>
    public ProteusAttentionLayer<T> Attention { get; }

    /// <summary>ln1.weight [C].</summary>
    public DeviceBuffer<float> Norm1Weight { get; }

    /// <summary>ln1.bias [C] (LayerNorm with biases).</summary>
    public DeviceBuffer<float>? Norm1Bias { get; }

    /// <summary>ln2.weight [C].</summary>
    public DeviceBuffer<float> Norm2Weight { get; }

    /// <summary>ln2.bias [C] (LayerNorm with biases).</summary>
    public DeviceBuffer<float>? Norm2Bias { get; }

    /// <summary>mlp.fc1.weight [4C, C].</summary>
    public DeviceBuffer<T> Fc1 { get; }

    /// <summary>mlp.fc1.bias [4C] (with biases).</summary>
    public DeviceBuffer<float>? Fc1Bias { get; }

    /// <summary>mlp.fc2.weight [C, 4C].</summary>
    public DeviceBuffer<T> Fc2 { get; }

    /// <summary>mlp.fc2.bias [C] (with biases).</summary>
    public DeviceBuffer<float>? Fc2Bias { get; }

    /// <summary>What the attention layer ran in the last forward pass.</summary>
    public LayerRunInfo? LastRun => Attention.LastRun;

    /// <summary>output = block(x), queued on the device's stream.</summary>
    /// <param name="x">[B, T, C], token rows evenly spaced.</param>
    /// <param name="output">[B, T, C], same spacing, not overlapping x.</param>
    /// <param name="options">Per-call options of the attention layer (DNA update, RoPE offset, α).</param>
    /// <returns>What the attention layer ran.</returns>
    public LayerRunInfo Forward(TensorView<T> x, TensorView<T> output, LayerForwardOptions? options = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        (long batch, long seqLen) = Attention.CheckActivation(x, nameof(x));
        Attention.CheckActivation(output, nameof(output));
        long c = Options.ModelDim, rows = batch * seqLen;
        Grow(rows);
        var normed = new TensorView<T>(_normed!, [batch, seqLen, c]);
        var hidden = new TensorView<T>(_hidden!, [batch, seqLen, c]);
        TensorView<T> xRows = ProteusAttentionLayer<T>.Rows(x), outRows = ProteusAttentionLayer<T>.Rows(output);
        var normedRows = new TensorView<T>(_normed!, [rows, c]);
        var hiddenRows = new TensorView<T>(_hidden!, [rows, c]);
        var mlpRows = new TensorView<T>(_mlp!, [rows, 4 * c]);

        // h = x + layer(norm1(x)): h starts as x, the layer's output projection accumulates into it.
        _ops.Norm(xRows, Vector(Norm1Weight), Vector(Norm1Bias), normedRows, Options.Norm, Options.NormEps);
        _ops.Convert(xRows, hiddenRows);
        LayerRunInfo run = Attention.Forward(normed, hidden, options, residual: true);

        // out = h + fc2(GELU(fc1(norm2(h)))).
        _ops.Norm(hiddenRows, Vector(Norm2Weight), Vector(Norm2Bias), normedRows, Options.Norm, Options.NormEps);
        ProteusAttentionLayer<T>.Linear(_ops, normedRows, new TensorView<T>(Fc1, [4 * c, c]), Fc1Bias, mlpRows, null);
        _ops.Gelu(mlpRows, mlpRows);
        _ops.Convert(hiddenRows, outRows);
        ProteusAttentionLayer<T>.Linear(_ops, mlpRows, new TensorView<T>(Fc2, [c, 4 * c]), Fc2Bias, outRows, 1f);
        return run;
    }

    private static TensorView<float>? Vector(DeviceBuffer<float>? buffer) => buffer is null ? null : new TensorView<float>(buffer, [buffer.Length]);

    private void Grow(long rows)
    {
        if (rows <= _rows)
        {
            return;
        }
        _normed?.Dispose();
        _hidden?.Dispose();
        _mlp?.Dispose();
        long c = Options.ModelDim;
        _normed = Device.Allocate<T>(rows * c);
        _hidden = Device.Allocate<T>(rows * c);
        _mlp = Device.Allocate<T>(rows * 4 * c);
        _rows = rows;
    }

    /// <summary>Frees the weights, the attention layer and the scratch.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Attention.Dispose();
        foreach (IDisposable? buffer in (IDisposable?[])[Norm1Weight, Norm1Bias, Norm2Weight, Norm2Bias, Fc1, Fc1Bias, Fc2, Fc2Bias, _normed, _hidden, _mlp])
        {
            buffer?.Dispose();
        }
    }
}
