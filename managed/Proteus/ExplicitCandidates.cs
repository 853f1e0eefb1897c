using Proteus.Interop;

namespace Proteus;

/// <summary>
/// Explicit candidate lists packed for <see cref="FluxInputs{T}.CandidateLists"/> and
/// <see cref="FluxInputs{T}.CandidateLengths"/> (docs/explicit-candidates.md): row-major indices
/// [rows, L] with L the longest list (at least 1), the unused slots −1, and each list's length.
/// </summary>
/// <param name="Indices">The indices, row-major [rows, <paramref name="SlotCount"/>]; unused slots −1.</param>
/// <param name="Lengths">The slots in use of each row.</param>
/// <param name="SlotCount">L, the slots of every row.</param>
public sealed record ExplicitCandidates(int[] Indices, int[] Lengths, int SlotCount)
{
    /// <summary>Packs one list per row, in the order the rows of the tensor take ([B, Tq] or [B, H, Tq] flattened).</summary>
    /// <param name="lists">The lists; each index is kept as given (range checks are the library's, at the call).</param>
    /// <returns>The packed lists.</returns>
    public static ExplicitCandidates Pack(IReadOnlyList<IReadOnlyList<int>> lists)
    {
        ArgumentNullException.ThrowIfNull(lists);
        int slots = Math.Max(1, lists.Count == 0 ? 1 : lists.Max(list => list?.Count ?? throw new ArgumentException("A list is null.", nameof(lists))));
        var indices = new int[checked(lists.Count * slots)];
        Array.Fill(indices, -1);
        var lengths = new int[lists.Count];
        for (int row = 0; row < lists.Count; row++)
        {
            IReadOnlyList<int> list = lists[row];
            for (int s = 0; s < list.Count; s++)
            {
                indices[row * slots + s] = list[s];
            }
            lengths[row] = list.Count;
        }
        return new ExplicitCandidates(indices, lengths, slots);
    }
}

/// <summary>What <see cref="Shortlist.ValidateExplicit{T}"/> found in explicit candidate lists.</summary>
/// <param name="Listed">Indices in use (Σ of the lengths, each clamped to [0, L]).</param>
/// <param name="OutOfRange">Indices outside [0, i] (skipped by flux attention).</param>
/// <param name="FirstOutOfRange">The first of them as (batch, head, row, slot), head −1 for shared lists; null when none.</param>
/// <param name="BadLengths">Lengths outside [0, L].</param>
/// <param name="FirstBadLength">The first of them as (batch, head, row), head −1 for shared lists; null when none.</param>
public sealed record ExplicitCandidatesReport(
    long Listed,
    long OutOfRange,
    (long Batch, long Head, long Row, long Slot)? FirstOutOfRange,
    long BadLengths,
    (long Batch, long Head, long Row)? FirstBadLength)
{
    /// <summary>Whether every index is in range and every length in [0, L].</summary>
    public bool IsClean => OutOfRange == 0 && BadLengths == 0;

    internal static ExplicitCandidatesReport FromNative(in ProteusExplicitCandidatesReport report) => new(
        report.Listed,
        report.OutOfRange,
        report.OutOfRange > 0 ? (report.FirstBatch, report.FirstHead, report.FirstRow, report.FirstSlot) : null,
        report.BadLengths,
        report.BadLengths > 0 ? (report.FirstBadLengthBatch, report.FirstBadLengthHead, report.FirstBadLengthRow) : null);
}
