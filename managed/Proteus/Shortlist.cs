using Proteus.Interop;

namespace Proteus;

/// <summary>The candidate sets C(i) themselves (SPEC §3), for inspection and tests; flux attention never materialises them.</summary>
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

    /// <summary>The candidate set C(i) of each of <paramref name="rows"/> in batch row <paramref name="batch"/>, each sorted ascending.</summary>
    /// <param name="device">The device that computes them (and holds <paramref name="salience"/>).</param>
    /// <param name="parameters">The policy and budgets.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="salience">Salience [B, T]; required when the DNA count is &gt; 0, else may be null.</param>
    /// <param name="batch">The batch row b.</param>
    /// <param name="rows">The query positions i, each in [0, T).</param>
    /// <returns>One sorted array per requested row, in the order of <paramref name="rows"/>.</returns>
    public static unsafe long[][] Gather(
        Device device, FluxParameters parameters, long seqLen, TensorView<float>? salience, long batch, ReadOnlySpan<long> rows)
    {
        ArgumentNullException.ThrowIfNull(device);
        long capacity = Bound(parameters, seqLen);
        ProteusContextHandle context = device.Context;
        if (rows.IsEmpty)
        {
            return [];
        }

        var indices = new long[checked(rows.Length * capacity)];
        var lengths = new long[rows.Length];
        using var held = new HandleReferences();
        ProteusTensor nativeSalience = salience?.ToNative(held, "salience") ?? default;
        ProteusFluxParams nativeParameters = parameters.ToNative();
        fixed (long* rowsPointer = rows)
        fixed (long* indicesPointer = indices)
        fixed (long* lengthsPointer = lengths)
        {
            NativeStatus.Check(NativeMethods.proteus_shortlist_gather(
                context, &nativeParameters, seqLen, &nativeSalience, batch, rowsPointer, rows.Length, capacity,
                indicesPointer, lengthsPointer));
        }

        var candidates = new long[rows.Length][];
        for (int r = 0; r < rows.Length; r++)
        {
            candidates[r] = indices.AsSpan(checked((int)(r * capacity)), checked((int)lengths[r])).ToArray();
        }
        return candidates;
    }
}
