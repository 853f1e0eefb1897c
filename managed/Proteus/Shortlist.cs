using Proteus.Interop;

namespace Proteus;

/// <summary>The candidate sets C(i) themselves (docs/flux-attention.md §3), for inspection and tests; flux attention never materialises them.</summary>
public static class Shortlist
{
    /// <summary>An upper bound on |C(i)| over every row of a sequence of length <paramref name="seqLen"/>.</summary>
    /// <param name="parameters">The policy and budgets.</param>
    /// <param name="seqLen">T, ≥ 1.</param>
    /// <returns>The bound.</returns>
    /// <exception cref="ProteusInvalidArgumentException">The parameters or the length are out of range.</exception>
    public static unsafe long Bound(FluxParameters parameters, long seqLen)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ProteusFluxParams nativeParameters = parameters.ToNative();
        long bound;
        NativeStatus.Check(NativeMethods.proteus_shortlist_bound(&nativeParameters, seqLen, &bound));
        return bound;
    }

    /// <summary>
    /// Σ |C(i)| over the rows [<paramref name="firstRow"/>, <paramref name="firstRow"/> + <paramref name="rowCount"/>)
    /// of batch row <paramref name="batch"/>, exactly (docs/flux-attention.md §3): the useful work of a flux call is
    /// 4·D·H·Σ|C(i)| FLOPs. The work is bounded by the rows asked for (plus the DNA prefix scan when
    /// K &gt; 0), never the whole sequence. Waits for the device's queued work (it reads the salience back).
    /// </summary>
    /// <param name="device">The device that computes it (and holds <paramref name="salience"/>).</param>
    /// <param name="parameters">The policy and budgets.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="salience">Salience [B, T]; required when the DNA count is &gt; 0, else may be null.</param>
    /// <param name="batch">The batch row b.</param>
    /// <param name="firstRow">The first query position counted.</param>
    /// <param name="rowCount">The number of positions counted.</param>
    /// <returns>The sum of the candidate-set sizes.</returns>
    /// <exception cref="ProteusInvalidArgumentException">The parameters, the length, the rows or the salience are out of range.</exception>
    public static unsafe long Total(
        Device device, FluxParameters parameters, long seqLen, TensorView<float>? salience, long batch, long firstRow, long rowCount)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(parameters);
        ProteusContextHandle context = device.Context;
        using var held = new HandleReferences();
        ProteusTensor nativeSalience = salience?.ToNative(held, "salience") ?? default;
        ProteusFluxParams nativeParameters = parameters.ToNative();
        long total;
        NativeStatus.Check(NativeMethods.proteus_shortlist_total(
            context, &nativeParameters, seqLen, &nativeSalience, batch, firstRow, rowCount, &total));
        return total;
    }

    /// <summary>
    /// The candidate set C(i) of each of <paramref name="rows"/> in batch row <paramref name="batch"/>, each
    /// sorted ascending. Memory and work follow the rows asked for: C(i) ⊆ [0, i] depends on no position
    /// after i, so the sets are gathered over the prefix up to the last row asked, never over all of T.
    /// Waits for the device's queued work.
    /// </summary>
    /// <param name="device">The device that computes them (and holds <paramref name="salience"/>).</param>
    /// <param name="parameters">The policy and budgets.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="salience">Salience [B, T]; required when the DNA count is &gt; 0, else may be null.</param>
    /// <param name="batch">The batch row b.</param>
    /// <param name="rows">The query positions i, each in [0, T).</param>
    /// <returns>One sorted array per requested row, in the order of <paramref name="rows"/>.</returns>
    /// <exception cref="ProteusInvalidArgumentException">The parameters, the length, a row (<c>rows</c>) or the salience are out of range.</exception>
    public static unsafe long[][] Gather(
        Device device, FluxParameters parameters, long seqLen, TensorView<float>? salience, long batch, ReadOnlySpan<long> rows)
    {
        ArgumentNullException.ThrowIfNull(device);
        // The library checks the parameters and T here, before anything is sized from them.
        _ = Bound(parameters, seqLen);
        ProteusContextHandle context = device.Context;
        if (rows.IsEmpty)
        {
            return [];
        }

        long lastRow = 0;
        for (int r = 0; r < rows.Length; r++)
        {
            if (rows[r] < 0 || rows[r] >= seqLen)
            {
                throw new ProteusInvalidArgumentException($"rows[{r}] = {rows[r]} lies outside [0, seq_len = {seqLen}).", "rows");
            }
            lastRow = Math.Max(lastRow, rows[r]);
        }
        // The prefix [0, lastRow] holds every candidate asked for, and its bound every set's size: a dense
        // budget asks B·(lastRow + 1), not B·T (1 GiB for one row at T = 2^27).
        long prefix = lastRow + 1;
        long capacity = Bound(parameters, prefix);
        TensorView<float>? prefixSalience = salience is { Rank: 2 } view && view.Shape[1] == seqLen
            ? new TensorView<float>(view.Buffer, [view.Shape[0], prefix], [view.Strides[0], view.Strides[1]], view.Offset)
            : salience;

        var indices = new long[checked(rows.Length * capacity)];
        var lengths = new long[rows.Length];
        using var held = new HandleReferences();
        ProteusTensor nativeSalience = prefixSalience?.ToNative(held, "salience") ?? default;
        ProteusFluxParams nativeParameters = parameters.ToNative();
        fixed (long* rowsPointer = rows)
        fixed (long* indicesPointer = indices)
        fixed (long* lengthsPointer = lengths)
        {
            NativeStatus.Check(NativeMethods.proteus_shortlist_gather(
                context, &nativeParameters, prefix, &nativeSalience, batch, rowsPointer, rows.Length, capacity,
                indicesPointer, lengthsPointer));
        }

        var candidates = new long[rows.Length][];
        for (int r = 0; r < rows.Length; r++)
        {
            candidates[r] = indices.AsSpan(checked((int)(r * capacity)), checked((int)lengths[r])).ToArray();
        }
        return candidates;
    }

    /// <summary>
    /// Debug check of the explicit candidate lists of <paramref name="inputs"/> (docs/explicit-candidates.md): counts the
    /// listed indices outside [0, i], which flux attention skips, and the lengths outside [0, L], with the first
    /// of each. The tensors are checked as for a flux call (nothing is computed). Copies the lists to the host and
    /// waits for the device's queued work: for tests and debugging.
    /// </summary>
    /// <typeparam name="T">The element type of query, key, value and output.</typeparam>
    /// <param name="device">The device holding the tensors.</param>
    /// <param name="inputs">The tensors, with <see cref="FluxInputs{T}.CandidateLists"/>.</param>
    /// <returns>What was found.</returns>
    /// <exception cref="ProteusInvalidArgumentException">A shape, the query slice, or missing lists.</exception>
    public static unsafe ExplicitCandidatesReport ValidateExplicit<T>(Device device, FluxInputs<T> inputs)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(inputs);
        _ = ElementType<T>.DType;
        using var held = new HandleReferences();
        ProteusFluxTensors tensors = FluxAttention.ToNative(inputs, held);
        var report = new ProteusExplicitCandidatesReport { StructSize = (uint)sizeof(ProteusExplicitCandidatesReport) };
        NativeStatus.Check(NativeMethods.proteus_validate_explicit_candidates(device.Context, &tensors, &report));
        return ExplicitCandidatesReport.FromNative(report);
    }
}
