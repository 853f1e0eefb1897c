namespace Proteus;

/// <summary>Per-call options of <see cref="ProteusAttentionLayer{T}.Forward"/>.</summary>
public sealed record LayerForwardOptions
{
    /// <summary>Runs the DNA update (SPEC §6) after the forward pass; never on by default (inference).</summary>
    public bool UpdateDna { get; init; }

    /// <summary>The position of token 0 for RoPE (≥ 0).</summary>
    public long PositionOffset { get; init; }

    /// <summary>An explicit α for this call (authoritative); null: the layer's schedule.</summary>
    public double? Alpha { get; init; }

    /// <summary>
    /// Waits for the device after each stage and records its wall time in <see cref="LayerRunInfo.Stages"/>
    /// (for benchmarks: the waits add their own latency, so time whole calls without it).
    /// </summary>
    public bool MeasureStages { get; init; }
}

/// <summary>The stages of a forward pass, as <see cref="LayerRunInfo.Stages"/> reports them.</summary>
public enum LayerStage
{
    /// <summary>The qkv projection and RoPE.</summary>
    QkvProjection,
    /// <summary>The router and the DNA blend.</summary>
    Router,
    /// <summary>The active rows (kept tokens ∧ heads per token).</summary>
    Selection,
    /// <summary>Flux attention.</summary>
    Attention,
    /// <summary>The output projection.</summary>
    OutputProjection,
    /// <summary>The DNA update.</summary>
    DnaUpdate,
}

/// <summary>What one forward pass ran: α, heads per token, keep ratio, budgets, kernel, DNA.</summary>
public sealed record LayerRunInfo
{
    /// <summary>The α decision of the call.</summary>
    public required AlphaDecision Decision { get; init; }

    /// <summary>Heads active per kept token (H when head selection is off or α = 0).</summary>
    public required int HeadsPerToken { get; init; }

    /// <summary>The token keep ratio used (1 when token sparsity is off).</summary>
    public required double KeepRatio { get; init; }

    /// <summary>Tokens kept per batch row.</summary>
    public required long KeptTokens { get; init; }

    /// <summary>The flux call: budgets, kernel, resolved launch, backend.</summary>
    public required FluxRunInfo Attention { get; init; }

    /// <summary>Whether the DNA blend ran, and the update.</summary>
    public required bool Dna { get; init; }

    /// <summary>Whether the DNA update ran.</summary>
    public required bool DnaUpdated { get; init; }

    /// <summary>The batch and sequence length of the call.</summary>
    public required long Batch { get; init; }

    /// <summary>T.</summary>
    public required long SeqLen { get; init; }

    /// <summary>Wall time per stage, with <see cref="LayerForwardOptions.MeasureStages"/>; else empty.</summary>
    public IReadOnlyList<(LayerStage Stage, TimeSpan Elapsed)> Stages { get; init; } = [];
}

/// <summary>
/// The drop-in attention layer of SPEC §7, x [B, T, C] → y [B, T, C]: the qkv projection, RoPE on q and
/// k, the router with the DNA blend, the active rows (heads per token ∧ kept tokens) chosen on the device,
/// flux attention with the DNA salience, and the output projection; the DNA update only when asked. Owns
/// its weights (projections in <typeparamref name="T"/>, router, DNA state and biases in float32) and its
/// scratch, which grows to the largest B·T seen and is reused (no allocation on later calls of that size).
/// </summary>
/// <typeparam name="T">The activation and projection-weight type: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
public sealed class ProteusAttentionLayer<T> : IDisposable
    where T : unmanaged
{
    private readonly LayerOps _ops;
    private readonly FluxAttention _attention;
    private readonly TokenSparsity? _sparsity;
    private Scratch? _scratch;

    /// <summary>Creates the layer with freshly initialised weights (N(0, 0.02), seeded), DNA state at zero usage and confidence.</summary>
    /// <param name="device">The device the weights and every call live on.</param>
    /// <param name="options">The configuration.</param>
    /// <param name="seed">The seed of the initial weights.</param>
    public ProteusAttentionLayer(Device device, ProteusLayerOptions options, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Device = device;
        Options = options;
        _ops = new LayerOps(device);
        // Budgets: the defaults, with the DNA piece (f 0.6, 0.3, 0.1) when DNA is on (SPEC §4).
        FluxBudgetOptions budget = options.Budget
            ?? (options.Dna is null ? new FluxBudgetOptions() : new FluxBudgetOptions { Pieces = ShortlistPieces.Local | ShortlistPieces.Anchors | ShortlistPieces.Dna });
        _attention = new FluxAttention(device, new AlphaSchedule(options.Alpha), new FluxBudget(budget));
        if (options.TokenKeep is not null || options.HeadsPerToken is not null)
        {
            _sparsity = new TokenSparsity(options.TokenKeep, options.HeadsPerToken);
        }

        long c = options.ModelDim, d = options.HeadDim, fused = (options.Heads + 2L * options.ResolvedKvHeads) * d, g = options.ResolvedGates;
        var random = new Random(seed);
        Qkv = Initialisation.Normal(device.Allocate<T>(fused * c), random, 0.02);
        Proj = Initialisation.Normal(device.Allocate<T>(c * c), random, 0.02);
        Router = Initialisation.Normal(device.Allocate<float>(g * c), random, 0.02);
        if (options.Bias)
        {
            QkvBias = Initialisation.Constant(device.Allocate<float>(fused), 0f);
            ProjBias = Initialisation.Constant(device.Allocate<float>(c), 0f);
        }
        if (options.Dna is not null)
        {
            Prototypes = Initialisation.Normal(device.Allocate<float>(g * c), random, 0.02);
            Usage = Initialisation.Constant(device.Allocate<float>(g), 0f);
            Confidence = Initialisation.Constant(device.Allocate<float>(g), 0f);
        }
    }

    /// <summary>The device.</summary>
    public Device Device { get; }

    /// <summary>The configuration.</summary>
    public ProteusLayerOptions Options { get; }

    /// <summary>
    /// Whether the layer's attention runs tuned launches (<see cref="FluxAttention.Tuning"/>; the cache's by
    /// default). The run info of each step's attention says where its launch came from.
    /// </summary>
    public TuningMode Tuning
    {
        get => _attention.Tuning;
        set => _attention.Tuning = value;
    }

    /// <summary>W_qkv [(H + 2·Hkv)·D, C].</summary>
    public DeviceBuffer<T> Qkv { get; }

    /// <summary>b_qkv [(H + 2·Hkv)·D] (with <see cref="ProteusLayerOptions.Bias"/>).</summary>
    public DeviceBuffer<float>? QkvBias { get; }

    /// <summary>W_o [C, C].</summary>
    public DeviceBuffer<T> Proj { get; }

    /// <summary>b_o [C] (with <see cref="ProteusLayerOptions.Bias"/>).</summary>
    public DeviceBuffer<float>? ProjBias { get; }

    /// <summary>W_r [G, C].</summary>
    public DeviceBuffer<float> Router { get; }

    /// <summary>DNA prototypes P [G, C] (DNA on).</summary>
    public DeviceBuffer<float>? Prototypes { get; }

    /// <summary>DNA usage [G] (DNA on).</summary>
    public DeviceBuffer<float>? Usage { get; }

    /// <summary>DNA confidence [G] (DNA on).</summary>
    public DeviceBuffer<float>? Confidence { get; }

    /// <summary>What the last forward pass ran.</summary>
    public LayerRunInfo? LastRun { get; private set; }

    /// <summary>
    /// y = layer(x) (SPEC §7), queued on the device's stream; with <paramref name="residual"/> y += layer(x)
    /// (the block's residual, through the output projection's accumulate).
    /// </summary>
    /// <param name="x">[B, T, C] with the token rows evenly spaced (a [B·T, C] matrix).</param>
    /// <param name="y">[B, T, C], same spacing; not overlapping x.</param>
    /// <param name="options">Per-call options (DNA update, RoPE offset, α).</param>
    /// <param name="residual">Adds to y instead of overwriting it.</param>
    /// <returns>What ran (also <see cref="LastRun"/>).</returns>
    public LayerRunInfo Forward(TensorView<T> x, TensorView<T> y, LayerForwardOptions? options = null, bool residual = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        options ??= new LayerForwardOptions();
        (long batch, long seqLen) = CheckActivation(x, nameof(x));
        CheckActivation(y, nameof(y));
        if (y.Shape[0] != batch || y.Shape[1] != seqLen)
        {
            throw new ArgumentException($"y is [{string.Join(", ", y.Shape)}], x is [{string.Join(", ", x.Shape)}].", nameof(y));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(options.PositionOffset, nameof(options.PositionOffset));
        if (options.UpdateDna && Options.Dna is null)
        {
            throw new InvalidOperationException("UpdateDna asks for the DNA update, but DNA is off in this layer's options.");
        }

        int heads = Options.Heads, kvHeads = Options.ResolvedKvHeads, gates = Options.ResolvedGates;
        long c = Options.ModelDim, d = Options.HeadDim, rows = batch * seqLen;
        Scratch s = ScratchFor(rows);
        var stages = new List<(LayerStage, TimeSpan)>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        void Stage(LayerStage stage)
        {
            if (options.MeasureStages)
            {
                Device.Synchronize();
                stages.Add((stage, clock.Elapsed));
                clock.Restart();
            }
        }
        if (options.MeasureStages)
        {
            Device.Synchronize();
            clock.Restart();
        }

        // qkv = x·W_qkvᵀ (+ b): [B·T, (H + 2·Hkv)·D] = [B, T, H + 2·Hkv, D], viewed as q, k, v [B, H(kv), T, D].
        long fused = (heads + 2L * kvHeads) * d;
        Linear(Rows(x), new TensorView<T>(Qkv, [fused, c]), QkvBias, new TensorView<T>(s.Qkv, [rows, fused]), null);
        (TensorView<T> q, TensorView<T> k, TensorView<T> v) = TensorLayouts.FusedQkv(s.Qkv, batch, seqLen, heads, kvHeads, d);
        if (Options.Rope is { } rope)
        {
            // q and k are the first H + Hkv heads of each token's row: one call turns both.
            var qk = new TensorView<T>(q.Buffer, [batch, heads + kvHeads, seqLen, d], [.. q.Strides], q.Offset);
            _ops.Rope(qk, options.PositionOffset, rope.Convention, rope.Base);
        }
        Stage(LayerStage.QkvProjection);

        // α, the keep ratio and heads per token come from T alone (host); the rows themselves on the device.
        AlphaDecision decision = options.Alpha is { } alpha ? AlphaDecision.Explicit(alpha) : _attention.Schedule.Evaluate(seqLen, d);
        bool sparseHeads = Options.HeadsPerToken is not null && decision.Alpha > 0;
        int headsPerToken = sparseHeads ? Math.Min(heads, _sparsity!.HeadsPerToken(seqLen, decision.Alpha)) : heads;
        double keepRatio = Options.TokenKeep is not null ? _sparsity!.KeepRatio(seqLen, decision.Alpha) : 1.0;
        long guard = Math.Min(seqLen, Options.GuardEvery is { } every ? Math.Max(1, seqLen / every) : Options.TokenKeep?.Guard ?? 1);
        long kept = TokenSparsity.KeptTokens(seqLen, keepRatio, guard);
        bool selecting = headsPerToken < heads || kept < seqLen;

        bool dna = Options.Dna is not null;
        if (dna || selecting)
        {
            _ops.Router(new RouterInputs<T>
            {
                X = x,
                Weight = new TensorView<float>(Router, [gates, c]),
                Prototypes = dna ? new TensorView<float>(Prototypes!, [gates, c]) : null,
                Usage = dna ? new TensorView<float>(Usage!, [gates]) : null,
                Confidence = dna ? new TensorView<float>(Confidence!, [gates]) : null,
                Probs = new TensorView<float>(s.Probs, [batch, seqLen, gates]),
                HeadProbs = new TensorView<float>(s.HeadProbs, [batch, seqLen, heads]),
                Salience = dna ? new TensorView<float>(s.Salience, [batch, seqLen]) : null,
                Importance = new TensorView<float>(s.Importance, [batch, seqLen]),
            }, new RouterOptions
            {
                Heads = heads,
                Dna = dna,
                Tau = Options.Dna?.Tau ?? 0.2f,
                Theta = Options.Dna?.Theta ?? 0.25f,
                Blend = Options.Dna?.Blend ?? 0.6f,
                UsageBoost = Options.Dna?.UsageBoost ?? 0f,
            });
            Stage(LayerStage.Router);
        }
        if (selecting)
        {
            _ops.SelectRows(new TensorView<float>(s.HeadProbs, [batch, seqLen, heads]), new TensorView<float>(s.Importance, [batch, seqLen]),
                new TensorView<byte>(s.Active, [batch, heads, seqLen]), headsPerToken, keepRatio, guard);
            Stage(LayerStage.Selection);
        }

        // o [B, T, H, D] (token-major, so that the heads concatenate into [B·T, C]); dropped rows write 0.
        var inputs = new FluxInputs<T>
        {
            Query = q,
            Key = k,
            Value = v,
            Output = TensorLayouts.Bthd(s.Output, batch, seqLen, heads, d),
            Active = selecting ? new TensorView<byte>(s.Active, [batch, heads, seqLen]) : null,
            Salience = dna ? new TensorView<float>(s.Salience, [batch, seqLen]) : null,
            ActiveDensity = selecting ? keepRatio * headsPerToken / heads : null,
        };
        FluxRunInfo attention = _attention.Run(inputs, new FluxRunOptions { Alpha = decision.Alpha });
        Stage(LayerStage.Attention);
        Linear(new TensorView<T>(s.Output, [rows, c]), new TensorView<T>(Proj, [c, c]), ProjBias, Rows(y), residual ? 1f : null);
        Stage(LayerStage.OutputProjection);

        bool update = options.UpdateDna && dna;
        if (update)
        {
            _ops.DnaUpdate(x, new TensorView<float>(s.Probs, [batch, seqLen, gates]), new TensorView<float>(Prototypes!, [gates, c]),
                new TensorView<float>(Usage!, [gates]), new TensorView<float>(Confidence!, [gates]), Options.Dna!.Decay);
            Stage(LayerStage.DnaUpdate);
        }
        LastRun = new LayerRunInfo
        {
            Decision = decision,
            HeadsPerToken = headsPerToken,
            KeepRatio = keepRatio,
            KeptTokens = kept,
            Attention = attention,
            Dna = dna,
            DnaUpdated = update,
            Batch = batch,
            SeqLen = seqLen,
            Stages = stages,
        };
        return LastRun;
    }

    /// <summary>The [B·T, C] matrix of a [B, T, C] activation whose token rows are evenly spaced.</summary>
    internal static TensorView<T> Rows(TensorView<T> x) =>
        new(x.Buffer, [x.Shape[0] * x.Shape[1], x.Shape[2]], [x.Strides[1], 1], x.Offset);

    internal (long Batch, long SeqLen) CheckActivation(TensorView<T> x, string name)
    {
        if (x.Rank != 3 || x.Shape[2] != Options.ModelDim)
        {
            throw new ArgumentException($"{name} must be [B, T, C = {Options.ModelDim}], not [{string.Join(", ", x.Shape)}].", name);
        }
        if (x.Strides[2] != 1 || (x.Shape[0] > 1 && x.Strides[0] != x.Shape[1] * x.Strides[1]))
        {
            throw new ArgumentException($"{name}'s token rows must be evenly spaced with C contiguous (strides [{string.Join(", ", x.Strides)}]).", name);
        }
        if (x.Buffer.Device != Device)
        {
            throw new ArgumentException($"{name} lives on {x.Buffer.Device}, the layer on {Device}.", name);
        }
        return (x.Shape[0], x.Shape[1]);
    }

    /// <summary>y = x·Wᵀ (+ bias) (+ accumulate·y).</summary>
    internal static void Linear(LayerOps ops, TensorView<T> x, TensorView<T> weight, DeviceBuffer<float>? bias, TensorView<T> y, float? accumulate)
    {
        if (bias is null)
        {
            ops.Linear(x, weight, y, accumulate);
        }
        else
        {
            ops.Linear(x, weight, new TensorView<float>(bias, [bias.Length]), y, accumulate);
        }
    }

    private void Linear(TensorView<T> x, TensorView<T> weight, DeviceBuffer<float>? bias, TensorView<T> y, float? accumulate) =>
        Linear(_ops, x, weight, bias, y, accumulate);

    private Scratch ScratchFor(long rows)
    {
        if (_scratch is null || _scratch.Rows < rows)
        {
            _scratch?.Dispose();
            _scratch = new Scratch(Device, Options, rows);
        }
        return _scratch;
    }

    private bool _disposed;

    /// <summary>Frees the weights, DNA state and scratch.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _scratch?.Dispose();
        foreach (IDisposable? buffer in (IDisposable?[])[Qkv, QkvBias, Proj, ProjBias, Router, Prototypes, Usage, Confidence])
        {
            buffer?.Dispose();
        }
    }

    /// <summary>Per-call intermediates for up to <see cref="Rows"/> tokens.</summary>
    private sealed class Scratch : IDisposable
    {
        public Scratch(Device device, ProteusLayerOptions options, long rows)
        {
            Rows = rows;
            long fused = (options.Heads + 2L * options.ResolvedKvHeads) * options.HeadDim;
            Qkv = device.Allocate<T>(rows * fused);
            Output = device.Allocate<T>(rows * options.ModelDim);
            Probs = device.Allocate<float>(rows * options.ResolvedGates);
            HeadProbs = device.Allocate<float>(rows * options.Heads);
            Salience = device.Allocate<float>(rows);
            Importance = device.Allocate<float>(rows);
            Active = device.Allocate<byte>(rows * options.Heads);
        }

        public long Rows { get; }
        public DeviceBuffer<T> Qkv { get; }
        public DeviceBuffer<T> Output { get; }
        public DeviceBuffer<float> Probs { get; }
        public DeviceBuffer<float> HeadProbs { get; }
        public DeviceBuffer<float> Salience { get; }
        public DeviceBuffer<float> Importance { get; }
        public DeviceBuffer<byte> Active { get; }

        public void Dispose()
        {
            foreach (IDisposable buffer in (IDisposable[])[Qkv, Output, Probs, HeadProbs, Salience, Importance, Active])
            {
                buffer.Dispose();
            }
        }
    }
}
