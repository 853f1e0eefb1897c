namespace Proteus.Tests.Support;

/// <summary>The parity suite's coverage claim rests on this: every pair of axis values meets in some row.</summary>
[TestFixture]
public sealed class PairwiseCoveringTests
{
    [Test]
    public void EveryPairOfValuesOfTwoAxesAppearsInSomeRow()
    {
        int[] axes = [3, 3, 4, 3, 4, 8, 2, 2, 2, 2];
        var rows = PairwiseCovering.Generate(axes, seed: 7);
        for (int a = 0; a < axes.Length; a++)
        {
            for (int b = a + 1; b < axes.Length; b++)
            {
                for (int va = 0; va < axes[a]; va++)
                {
                    for (int vb = 0; vb < axes[b]; vb++)
                    {
                        Assert.That(rows.Any(row => row[a] == va && row[b] == vb), Is.True, $"axis {a} = {va} with axis {b} = {vb}");
                    }
                }
            }
        }
        Assert.That(rows, Has.Count.LessThan(3 * 3 * 4 * 3 * 4 * 8 / 10), "far fewer rows than the cross product");
    }
}
