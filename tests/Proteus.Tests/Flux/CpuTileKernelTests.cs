namespace Proteus.Tests.Flux;

/// <summary>
/// The CPU backend's tile kernel (what AUTO runs for the Aligned and Relative policies) against its
/// reference (launch mode REFERENCE) on fresh random inputs, output poisoned first: every window from
/// W = 1 (each row's window is the row alone, and starts exactly where the previous row's ends) to
/// dense, with anchors and DNA keys, GQA, inactive rows and query slices. Within SPEC §9's float32
/// tolerance: both accumulate in float32, in different orders.
/// </summary>
[TestFixture]
public sealed class CpuTileKernelTests
{
    private Device cpu = null!;

    [OneTimeSetUp]
    public void Open() => cpu = Device.Open(Backend.Cpu);

    [OneTimeTearDown]
    public void Close() => cpu.Dispose();

    public sealed record TileCase(long SeqLen, long Window, long AnchorStride, long AnchorCount, long DnaCount,
        CandidatePolicy Policy, long KvHeads, long QueryOffset, long QueryLength, bool Masked, int Seed)
    {
        public override string ToString() =>
            $"T{SeqLen} W{Window} S{AnchorStride} A{AnchorCount} K{DnaCount} {Policy} Hkv{KvHeads} p0 {QueryOffset} Tq{QueryLength}{(Masked ? " masked" : "")}";
    }

    public static IEnumerable<TileCase> Cases()
    {
        int seed = 100;
        foreach (long seqLen in (long[])[1, 2, 33, 130])
        {
            foreach (long window in (long[])[1, 2, 3, Math.Max(1, seqLen - 1), seqLen, long.MaxValue / 4])
            {
                yield return new(seqLen, window, 0, 0, 0, CandidatePolicy.Aligned, 4, 0, seqLen, false, seed++);
                yield return new(seqLen, window, 3, 4, 0, CandidatePolicy.Aligned, 2, 0, seqLen, true, seed++);
                yield return new(seqLen, window, 5, 2, 3, CandidatePolicy.Aligned, 1, 0, seqLen, false, seed++);
                yield return new(seqLen, window, 4, 3, 2, CandidatePolicy.Relative, 2, 0, seqLen, true, seed++);
                // Slices: one decode step, and a chunk in the middle.
                yield return new(seqLen, window, 3, 4, 2, CandidatePolicy.Aligned, 2, seqLen - 1, 1, false, seed++);
                yield return new(seqLen, window, 0, 0, 0, CandidatePolicy.Aligned, 4, seqLen / 3, Math.Max(1, seqLen / 2), true, seed++);
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void TheTileKernelMatchesTheReference(TileCase c)
    {
        const long Batch = 2, Heads = 4, HeadDim = 16;
        var random = new Random(c.Seed);
        float[] Fresh(long length) => Enumerable.Range(0, (int)length).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();

        using var q = cpu.Allocate<float>(Batch * Heads * c.QueryLength * HeadDim);
        using var k = cpu.Allocate<float>(Batch * c.KvHeads * c.SeqLen * HeadDim);
        using var v = cpu.Allocate<float>(Batch * c.KvHeads * c.SeqLen * HeadDim);
        using var salience = cpu.Allocate<float>(Batch * c.SeqLen);
        using var active = cpu.Allocate<byte>(Batch * Heads * c.QueryLength);
        q.CopyFrom(Fresh(q.Length));
        k.CopyFrom(Fresh(k.Length));
        v.CopyFrom(Fresh(v.Length));
        salience.CopyFrom(Fresh(salience.Length));
        active.CopyFrom(Enumerable.Range(0, (int)active.Length).Select(_ => (byte)(random.Next(3) == 0 ? 0 : 1)).ToArray());

        var parameters = new FluxParameters
        {
            Policy = c.Policy, Window = c.Window, AnchorStride = c.AnchorStride, AnchorCount = c.AnchorCount, DnaCount = c.DnaCount,
        };
        (float[] Output, float[] Lse, FluxKernel Kernel) Run(LaunchConfig launch)
        {
            using var o = cpu.Allocate<float>(q.Length);
            using var lse = cpu.Allocate<float>(Batch * Heads * c.QueryLength);
            o.Fill(float.NaN);
            lse.Fill(float.NaN);
            var inputs = new FluxInputs<float>
            {
                Query = TensorLayouts.Bhtd(q, Batch, Heads, c.QueryLength, HeadDim),
                Key = TensorLayouts.Bhtd(k, Batch, c.KvHeads, c.SeqLen, HeadDim),
                Value = TensorLayouts.Bhtd(v, Batch, c.KvHeads, c.SeqLen, HeadDim),
                Output = TensorLayouts.Bhtd(o, Batch, Heads, c.QueryLength, HeadDim),
                Salience = new TensorView<float>(salience, [Batch, c.SeqLen]),
                Active = c.Masked ? new TensorView<byte>(active, [Batch, Heads, c.QueryLength]) : null,
                Lse = new TensorView<float>(lse, [Batch, Heads, c.QueryLength]),
                QueryOffset = c.QueryOffset,
            };
            FluxRunInfo info = new FluxAttention(cpu).Run(inputs, parameters, launch);
            cpu.Synchronize();
            return (o.ToArray(), lse.ToArray(), info.Kernel);
        }

        var tile = Run(new LaunchConfig());
        var reference = Run(new LaunchConfig { Mode = LaunchMode.Reference });
        double error = 0, norm = 0;
        for (int e = 0; e < tile.Output.Length; e++)
        {
            error += Math.Pow(tile.Output[e] - reference.Output[e], 2);
            norm += Math.Pow(reference.Output[e], 2);
        }
        using (Assert.EnterMultipleScope())
        {
            Assert.That(tile.Kernel, Is.EqualTo(FluxKernel.CpuTile));
            Assert.That(reference.Kernel, Is.EqualTo(FluxKernel.CpuReference));
            Assert.That(tile.Output, Has.None.NaN, "every output element written");
            Assert.That(Math.Sqrt(error / Math.Max(norm, 1e-30)), Is.LessThanOrEqualTo(1e-5), "relative L2 error vs the reference");
            Assert.That(tile.Lse, Is.EqualTo(reference.Lse).Within(1e-4f), "lse (−∞ on inactive rows)");
        }
    }
}
