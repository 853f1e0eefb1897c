namespace Proteus.Tuning;

/// <summary>
/// The elements of a flux output that <see cref="FluxTuner"/>'s SPEC §9 check compares: whole rows (one
/// query position of one head: D elements) of every batch row and head, at the same positions in each —
/// the first and the last <see cref="EdgeRows"/> positions (the first and the last tile of any tiling, where
/// a tail bug lives) and blocks of <see cref="SpreadRows"/> positions at fixed pseudo-random places in equal
/// strata between — at most a bound of elements, all of the output when it fits. The sample depends only
/// on the output's layout and the bound, so a candidate's sample is compared element for element with the
/// heuristic's; and it is small enough that reading it from a device takes milliseconds where the whole
/// output (gigabytes on long sequences) would take the tuner's budget.
/// </summary>
public sealed class OutputSample
{
    /// <summary>The default bound on the sampled elements (2 Mi: 8 MiB as float32).</summary>
    public const long DefaultMaxElements = 1L << 21;

    /// <summary>Positions sampled at each end of every head (covers the first and last tile of tiles up to this many rows).</summary>
    public const long EdgeRows = 256;

    /// <summary>Positions per block sampled between the ends.</summary>
    public const long SpreadRows = 64;

    /// <summary>Fixes the places of the blocks between the ends: every run of the tuner samples the same rows.</summary>
    private const int Seed = 20240601;

    private readonly (long Start, long Length)[] _ranges;

    private OutputSample((long Start, long Length)[] positions, (long Start, long Length)[] ranges)
    {
        Positions = positions;
        _ranges = ranges;
        Count = ranges.Sum(r => r.Length);
    }

    /// <summary>The query positions sampled in every batch row and head: ascending, disjoint [Start, Start + Length).</summary>
    public IReadOnlyList<(long Start, long Length)> Positions { get; }

    /// <summary>The element ranges read from the output's buffer: ascending, disjoint, none adjacent to the next.</summary>
    public IReadOnlyList<(long Start, long Length)> Ranges => _ranges;

    /// <summary>The number of elements sampled.</summary>
    public long Count { get; }

    /// <summary>The sample of <paramref name="output"/> (see <see cref="Of(IReadOnlyList{long}, IReadOnlyList{long}, long, long)"/>).</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="output">The output view, [B, H, T, D].</param>
    /// <param name="maxElements">The bound on the elements sampled.</param>
    /// <returns>The rows to read.</returns>
    public static OutputSample Of<T>(TensorView<T> output, long maxElements = DefaultMaxElements)
        where T : unmanaged =>
        Of(output.Shape, output.Strides, output.Offset, maxElements);

    /// <summary>
    /// The sample of an output of <paramref name="shape"/> ([…, T, D]: rows of the last axis, positions along
    /// the one before, every index of the axes before that) stored with <paramref name="strides"/> from element
    /// <paramref name="offset"/>: every row when the output has at most <paramref name="maxElements"/> elements,
    /// else at most that many (and never less than the first and the last row of every head).
    /// </summary>
    /// <param name="shape">The extents, rank 1 to 4.</param>
    /// <param name="strides">The element strides.</param>
    /// <param name="offset">The element index of element [0, …, 0] in the buffer.</param>
    /// <param name="maxElements">The bound on the elements sampled, ≥ 1.</param>
    /// <returns>The rows to read.</returns>
    /// <exception cref="ArgumentException">The shape and strides differ in rank, or the rank is 0.</exception>
    public static OutputSample Of(IReadOnlyList<long> shape, IReadOnlyList<long> strides, long offset, long maxElements = DefaultMaxElements)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(strides);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxElements, 1);
        if (shape.Count == 0 || strides.Count != shape.Count)
        {
            throw new ArgumentException($"A sample needs an output of rank ≥ 1 with a stride per axis, not {shape.Count} extents and {strides.Count} strides.", nameof(strides));
        }
        int rank = shape.Count;
        long width = shape[rank - 1];
        long positions = rank >= 2 ? shape[rank - 2] : 1;
        long heads = 1;
        for (int axis = 0; axis < rank - 2; axis++)
        {
            heads *= shape[axis];
        }
        (long Start, long Length)[] sampled = SamplePositions(positions, Math.Max(2, maxElements / Math.Max(1, heads * width)));
        return new OutputSample(sampled, ElementRanges(shape, strides, offset, sampled));
    }

    /// <summary>Reads the sampled elements of <paramref name="buffer"/> (one device-to-host copy per range), as float32.</summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="buffer">The output's buffer.</param>
    /// <returns>The elements, in the order of <see cref="Ranges"/>.</returns>
    /// <exception cref="InvalidOperationException">The sample has more elements than an array can hold.</exception>
    public float[] Read<T>(DeviceBuffer<T> buffer)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer);
        var values = new T[CheckedCount()];
        int at = 0;
        foreach ((long start, long length) in _ranges)
        {
            buffer.CopyTo(values.AsSpan(at, (int)length), start);
            at += (int)length;
        }
        return ToSingle(values);
    }

    /// <summary>The sampled elements of a whole buffer already on the host (a test's or a fake timer's output).</summary>
    /// <param name="buffer">Every element of the output's buffer.</param>
    /// <returns>The elements, in the order of <see cref="Ranges"/>.</returns>
    public float[] Gather(ReadOnlySpan<float> buffer)
    {
        var values = new float[CheckedCount()];
        int at = 0;
        foreach ((long start, long length) in _ranges)
        {
            buffer.Slice(checked((int)start), (int)length).CopyTo(values.AsSpan(at));
            at += (int)length;
        }
        return values;
    }

    /// <summary>
    /// All of [0, <paramref name="positions"/>) when at most <paramref name="budget"/>; else the first and last
    /// edge, and blocks in equal strata of the middle at seeded places, together at most the budget.
    /// </summary>
    private static (long Start, long Length)[] SamplePositions(long positions, long budget)
    {
        if (positions <= budget)
        {
            return [(0, positions)];
        }
        long edge = Math.Clamp(budget / 4, 1, EdgeRows);
        long left = budget - 2 * edge;
        long block = Math.Clamp(left / 8, 1, SpreadRows);
        long blocks = left / block;
        long middle = positions - 2 * edge;  // > left ≥ blocks · block: every stratum holds its block
        var sampled = new List<(long Start, long Length)> { (0, edge) };
        var random = new Random(Seed);
        for (long i = 0; i < blocks; i++)
        {
            long low = edge + i * middle / blocks, high = edge + (i + 1) * middle / blocks - block;
            sampled.Add((low + random.NextInt64(high - low + 1), block));
        }
        sampled.Add((positions - edge, edge));
        return Merge(sampled);
    }

    /// <summary>The buffer ranges of the sampled rows of every head: one per block where a head's rows are contiguous, else one per row, merged.</summary>
    private static (long Start, long Length)[] ElementRanges(IReadOnlyList<long> shape, IReadOnlyList<long> strides, long offset, (long Start, long Length)[] positions)
    {
        int rank = shape.Count;
        long width = shape[rank - 1];
        bool rowContiguous = width == 1 || strides[rank - 1] == 1;
        long positionStride = rank >= 2 ? strides[rank - 2] : 0;
        bool blockContiguous = rowContiguous && positionStride == width;
        var ranges = new List<(long Start, long Length)>();
        var index = new long[Math.Max(rank - 2, 0)];
        while (true)
        {
            long head = offset;
            for (int axis = 0; axis < index.Length; axis++)
            {
                head += index[axis] * strides[axis];
            }
            foreach ((long start, long length) in positions)
            {
                if (blockContiguous)
                {
                    ranges.Add((head + start * positionStride, length * width));
                    continue;
                }
                for (long position = start; position < start + length; position++)
                {
                    long row = head + position * positionStride;
                    if (rowContiguous)
                    {
                        ranges.Add((row, width));
                        continue;
                    }
                    for (long element = 0; element < width; element++)
                    {
                        ranges.Add((row + element * strides[rank - 1], 1));
                    }
                }
            }
            // The next head, in row-major order of the leading axes.
            int carry = index.Length - 1;
            while (carry >= 0 && ++index[carry] == shape[carry])
            {
                index[carry--] = 0;
            }
            if (carry < 0)
            {
                break;
            }
        }
        return Merge(ranges);
    }

    /// <summary>Sorts ranges and joins those that overlap or touch, so that an element is read once and a contiguous run in one copy.</summary>
    private static (long Start, long Length)[] Merge(List<(long Start, long Length)> ranges)
    {
        ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
        var merged = new List<(long Start, long Length)>(ranges.Count);
        foreach ((long start, long length) in ranges)
        {
            if (merged.Count > 0 && merged[^1].Start + merged[^1].Length >= start)
            {
                (long lastStart, long lastLength) = merged[^1];
                merged[^1] = (lastStart, Math.Max(lastLength, start + length - lastStart));
            }
            else
            {
                merged.Add((start, length));
            }
        }
        return merged.ToArray();
    }

    private int CheckedCount() => Count <= Array.MaxLength
        ? (int)Count
        : throw new InvalidOperationException($"The sample's {Count} elements do not fit in one array; lower the bound.");

    private static float[] ToSingle<T>(T[] values)
        where T : unmanaged
    {
        switch (values)
        {
            case float[] single:
                return single;
            case Half[] half:
                return Array.ConvertAll(half, x => (float)x);
            case BFloat16[] brain:
                return Array.ConvertAll(brain, x => (float)x);
            default:
                throw new NotSupportedException($"Flux outputs are float, Half or BFloat16, not {typeof(T)}.");
        }
    }
}
