namespace Proteus;

/// <summary>
/// The tensors of one flux attention call (docs/flux-attention.md §1–§2), with an optional query slice. Query and Output are
/// [B, H, Tq, D], Key and Value [B, Hkv, T, D] with H a multiple of Hkv, all of one element type (float,
/// Half or BFloat16) on one device. Query row r is sequence position p0 + r (<see cref="QueryOffset"/>),
/// with p0 + Tq ≤ T, and its output is exactly what that position has in a full-length call: Tq = T is
/// self-attention, Tq = 1 at p0 = T − 1 is one decode step over a KV cache of T keys, anything between a
/// chunk of a prefill. <see cref="TensorLayouts"/> makes views with Tq rows next to keys of T rows.
/// </summary>
/// <typeparam name="T">The element type of query, key, value and output.</typeparam>
public sealed class FluxInputs<T>
    where T : unmanaged
{
    /// <summary>q [B, H, Tq, D].</summary>
    public required TensorView<T> Query { get; init; }

    /// <summary>k [B, Hkv, T, D].</summary>
    public required TensorView<T> Key { get; init; }

    /// <summary>v [B, Hkv, T, D].</summary>
    public required TensorView<T> Value { get; init; }

    /// <summary>o [B, H, Tq, D], written by the call.</summary>
    public required TensorView<T> Output { get; init; }

    /// <summary>Optional mask [B, H, Tq]: nonzero computes the row; inactive rows get o = 0 and lse = −∞. Null: every row is active.</summary>
    public TensorView<byte>? Active { get; init; }

    /// <summary>Per-token salience [B, T] (over the keys); required when <see cref="FluxParameters.DnaCount"/> is &gt; 0, else ignored.</summary>
    public TensorView<float>? Salience { get; init; }

    /// <summary>Optional output [B, H, Tq]: log Σ exp of the scores over each row's candidates.</summary>
    public TensorView<float>? Lse { get; init; }

    /// <summary>
    /// The caller's candidate lists, required by <see cref="CandidatePolicy.Explicit"/> and ignored by the other
    /// policies (docs/explicit-candidates.md): key positions [B, Tq, L] shared by every head, or [B, H, Tq, L]
    /// one list per head. Slot s of row r names a key of position i = p0 + r; an index outside [0, i] is
    /// skipped, and an index listed twice counts twice. <see cref="ExplicitCandidates"/> packs jagged lists.
    /// </summary>
    public TensorView<int>? CandidateLists { get; init; }

    /// <summary>
    /// Optional: the slots in use of each list, [B, Tq] for shared lists or [B, H, Tq] per head, each in
    /// [0, L]. Null: every list uses all L slots. The CPU backend rejects a length outside [0, L]; a GPU
    /// clamps it (<see cref="Shortlist.ValidateExplicit{T}"/> reports it).
    /// </summary>
    public TensorView<int>? CandidateLengths { get; init; }

    /// <summary>
    /// p0, the sequence position of query row 0, with 0 ≤ p0 and p0 + Tq ≤ T (the library checks it and
    /// names <c>tensors.query_offset</c>). Null: T − Tq, the queries are the last Tq positions.
    /// </summary>
    public long? QueryOffset { get; init; }

    /// <summary>
    /// The fraction of rows <see cref="Active"/> is expected to select, in [0, 1], when the caller knows it
    /// (the attention layer does: its keep ratio times its heads per token over H). A hint: the output is
    /// the same without it. It goes into the tuning cache's key (a mask of unknown density has a key of
    /// its own) and, with <see cref="Active"/>, to the library as PROTEUS_FLUX_ACTIVE_SPARSE (under a
    /// quarter) or PROTEUS_FLUX_ACTIVE_DENSE, so that a GPU backend runs the one kernel that suits it
    /// instead of counting the rows on the device first.
    /// </summary>
    public double? ActiveDensity { get; init; }
}
