namespace Proteus.Tests.Support;

/// <summary>The Seed configuration as Appendix A states it, resolved by the test (no library type in it).</summary>
public sealed record SeedConfig
{
    /// <summary>Fixed, Sqrt, Log or MemCap ("budget" in MB is <see cref="MemoryMb"/>).</summary>
    public TargetSchedule Target { get; init; } = TargetSchedule.Fixed;

    /// <summary>L_base (512).</summary>
    public long BaseLength { get; init; } = 512;

    /// <summary>L_min; null: min(64, L_base).</summary>
    public long? MinLength { get; init; }

    /// <summary>L_max; null: L_base (at least L_min).</summary>
    public long? MaxLength { get; init; }

    /// <summary>The configured linear window: 512 by default whatever L_base is; ≤ 0 means L_base.</summary>
    public long LinearWindow { get; init; } = 512;

    /// <summary>S (256); 0 disables anchors.</summary>
    public long Stride { get; init; } = 256;

    /// <summary>The runtime scale s (1).</summary>
    public double Scale { get; init; } = 1;

    /// <summary>Pieces enabled (local, anchors, dna).</summary>
    public bool Local { get; init; } = true;

    /// <summary>Anchors enabled.</summary>
    public bool Anchors { get; init; } = true;

    /// <summary>DNA enabled.</summary>
    public bool Dna { get; init; }

    /// <summary>f_loc (0.6), f_anc (0.3), f_dna (null: max(0, 1 − f_loc − f_anc)).</summary>
    public (double Local, double Anchors, double? Dna) Fractions { get; init; } = (0.6, 0.3, null);

    /// <summary>MemCap's budget in MB.</summary>
    public double MemoryMb { get; init; }
}

/// <summary>(L, W, cap_loc, cap_anc, cap_dna) of Appendix A.</summary>
public readonly record struct SeedRow(long Length, long Window, long LocalCap, long AnchorCap, long DnaCap);

/// <summary>SPEC Appendix A, "The Seed policy, exactly", written from its text line by line.</summary>
public static class SeedOracle
{
    public static SeedRow Budget(SeedConfig config, long seqLen, double alpha, long heads = 1, long batch = 1, long headDim = 1)
    {
        long lBase = config.BaseLength;
        long lMin = config.MinLength ?? Math.Min(64, lBase);
        long lMax = Math.Max(config.MaxLength ?? lBase, lMin);
        long wBase = config.LinearWindow <= 0 ? lBase : config.LinearWindow;
        bool anchorsOn = config.Anchors && config.Stride > 0;
        bool[] on = [config.Local, anchorsOn, config.Dna];

        double fl = Math.Clamp(config.Fractions.Local, 0, 1);
        double fa = Math.Clamp(config.Fractions.Anchors, 0, 1);
        double fd = Math.Clamp(config.Fractions.Dna ?? Math.Max(0, 1 - fl - fa), 0, 1);
        double sum = fl + fa + fd;
        double[] f = [fl / sum, fa / sum, fd / sum];
        for (int p = 0; p < 3; p++)
        {
            f[p] = on[p] ? f[p] : 0;
        }
        sum = f[0] + f[1] + f[2];
        for (int p = 0; p < 3; p++)
        {
            f[p] /= sum;
        }

        double c = Math.Max(1, lBase);
        double baseLength = config.Target switch
        {
            TargetSchedule.Fixed => c,
            TargetSchedule.Sqrt => c * Math.Sqrt(seqLen),
            TargetSchedule.Log => c * Math.Log2(seqLen + 1),
            _ => Math.Clamp(Math.Floor(config.MemoryMb * (1 << 20) / ((double)heads * batch * seqLen * headDim * 8)), 1, lMax),
        };
        long lT = (long)Math.Clamp(Math.Ceiling(config.Scale * Math.Max(1, baseLength)), lMin, lMax);
        long wT = Math.Min(wBase, lT);
        long lD = Math.Clamp(Math.Min(seqLen, Math.Max(lMin, wBase + seqLen / 32)), lMin, lMax);
        long length = Math.Clamp((long)Math.Truncate(alpha * lT + (1 - alpha) * lD), lMin, lMax);
        long wD = Math.Max(1, Math.Min(seqLen, Math.Max(wBase, seqLen / 8)));
        long window = Math.Clamp((long)Math.Truncate(alpha * wT + (1 - alpha) * wD), 1, length);

        double[] dense = [0.85, 0.10, 0.05];
        var w = new double[3];
        for (int p = 0; p < 3; p++)
        {
            w[p] = on[p] ? (1 - alpha) * dense[p] + alpha * f[p] : 0;
        }
        double total = w.Sum();
        w = total == 0 ? [1, 0, 0] : w.Select(x => x / total).ToArray();
        w[2] = Math.Max(0, 1 - w[0] - w[1]);

        long[] cap = new long[3];
        for (int p = 0; p < 3; p++)
        {
            cap[p] = on[p] ? (long)Math.Round(length * w[p], MidpointRounding.ToEven) : 0;
        }
        long capSum = cap.Sum();
        if (capSum > length)
        {
            for (int p = 0; p < 3; p++)
            {
                cap[p] = (long)Math.Floor((double)cap[p] * length / capSum);
            }
        }
        long r = length - cap.Sum();
        for (int p = 0; p < 3; p++)
        {
            if (on[p] && r > 0)
            {
                cap[p]++;
                r--;
            }
        }
        if (r > 0)
        {
            cap[Array.IndexOf(on, true)] += r;
        }
        if (config.Local)
        {
            cap[0] = Math.Min(cap[0], window);
            if (cap[0] <= 0 && length > 0)
            {
                cap[0] = Math.Min(window, Math.Max(1, length / 4));
            }
        }
        return new SeedRow(length, window, cap[0], cap[1], cap[2]);
    }
}
