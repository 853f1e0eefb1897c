using Proteus.Tuning;

namespace Proteus.Tests.Tuning;

/// <summary>The rows the tuner's output check reads: bounded, deterministic, both ends of every head, read in ranges.</summary>
public sealed class OutputSampleTests
{
    private static long[] Contiguous(long[] shape) => [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];

    private static bool Covers(OutputSample sample, long start, long end) =>
        sample.Ranges.Any(r => r.Start <= start && end <= r.Start + r.Length);

    [Test]
    public void AnOutputWithinTheBoundIsReadWhole()
    {
        long[] shape = [2, 3, 100, 16];

        OutputSample sample = OutputSample.Of(shape, Contiguous(shape), 0, maxElements: 9600);

        Assert.That(sample.Ranges, Is.EqualTo(new[] { (0L, 9600L) }));
        Assert.That(sample.Positions, Is.EqualTo(new[] { (0L, 100L) }));
    }

    [Test]
    public void ALargeOutputIsSampledWithinTheBoundAtBothEndsOfEveryHead()
    {
        long[] shape = [2, 16, 1 << 20, 64];

        OutputSample sample = OutputSample.Of(shape, Contiguous(shape), 0);

        Assert.That(sample.Count, Is.LessThanOrEqualTo(OutputSample.DefaultMaxElements).And.GreaterThan(OutputSample.DefaultMaxElements * 9 / 10));
        Assert.That(sample.Positions[0], Is.EqualTo((0L, OutputSample.EdgeRows)));
        Assert.That(sample.Positions[^1], Is.EqualTo(((1L << 20) - OutputSample.EdgeRows, OutputSample.EdgeRows)));
        Assert.That(sample.Positions.Zip(sample.Positions.Skip(1)).All(p => p.First.Start + p.First.Length < p.Second.Start), "ascending and disjoint");
        // One copy per block and head ([B, H, T, D] keeps a head's rows together), the last rows of a head
        // and the first of the next in one.
        Assert.That(sample.Ranges, Has.Count.EqualTo(2 * 16 * sample.Positions.Count - (2 * 16 - 1)));
        for (long head = 0; head < 2 * 16; head++)
        {
            long end = (head + 1) * (1L << 20) * 64;
            Assert.That(Covers(sample, end - OutputSample.EdgeRows * 64, end), $"the last rows of head {head}");
        }
        Assert.That(OutputSample.Of(shape, Contiguous(shape), 0).Ranges, Is.EqualTo(sample.Ranges), "the same rows every time");
    }

    [Test]
    public void TooManyHeadsForTheBoundStillKeepTheFirstAndLastRowOfEach()
    {
        long[] shape = [1, 8, 1000, 4];

        OutputSample sample = OutputSample.Of(shape, Contiguous(shape), 0, maxElements: 10);

        Assert.That(sample.Positions, Is.EqualTo(new[] { (0L, 1L), (999L, 1L) }));
        Assert.That(sample.Count, Is.EqualTo(8 * 2 * 4));
    }

    [Test]
    public void ReadingFromADeviceGivesTheSampledElementsOfAStridedView()
    {
        using var device = Device.Open(Backend.Cpu);
        const long Batch = 2, SeqLen = 3000, Heads = 3, HeadDim = 8;
        float[] host = Enumerable.Range(0, (int)(Batch * SeqLen * Heads * HeadDim)).Select(i => i * 0.5f).ToArray();
        using DeviceBuffer<Half> buffer = device.Upload<Half>(host.Select(x => (Half)x).ToArray());
        TensorView<Half> output = TensorLayouts.Bthd(buffer, Batch, SeqLen, Heads, HeadDim);

        OutputSample sample = OutputSample.Of(output, maxElements: 6000);
        float[] read = sample.Read(buffer);

        Assert.That(sample.Count, Is.LessThanOrEqualTo(6000));
        // [B, T, H, D] storage: the rows of every head at one position lie together, one copy each block
        // (the last of one batch row and the first of the next in one).
        Assert.That(sample.Ranges, Has.Count.EqualTo(Batch * sample.Positions.Count - 1));
        Assert.That(read, Is.EqualTo(sample.Gather(host.Select(x => (float)(Half)x).ToArray())));
        Assert.That(read[^1], Is.EqualTo((float)(Half)host[^1]), "the last element of the output");
    }
}
