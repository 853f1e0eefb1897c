using System.Text.Json.Serialization;

namespace Proteus;

/// <summary>
/// The sequence lengths of a <see cref="ContextMasteryCurriculum"/>, one per stage: either geometric growth
/// up to a cap (<see cref="GeometricLengths"/>) or an explicit ladder (<see cref="ListedLengths"/>).
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(GeometricLengths), "geometric")]
[JsonDerivedType(typeof(ListedLengths), "listed")]
public abstract record CurriculumLengths
{
    /// <summary>T at stage <paramref name="stage"/>; constant once the cap (or the end of the ladder) is reached.</summary>
    internal abstract long At(int stage);
}

/// <summary>Lengths that start at <see cref="Initial"/> and grow by <see cref="Factor"/> per stage (rounded up) until <see cref="Max"/>.</summary>
public sealed record GeometricLengths : CurriculumLengths
{
    /// <summary>Creates the ladder Initial, ceil(Initial·Factor), …, capped at Max.</summary>
    /// <param name="initial">T of the first stage, ≥ 1.</param>
    /// <param name="factor">The growth per stage, finite and &gt; 1 (2 doubles T).</param>
    /// <param name="max">The cap, ≥ <paramref name="initial"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range (the exception names it).</exception>
    public GeometricLengths(long initial, double factor, long max)
    {
        OptionChecks.AtLeast(initial, 1, nameof(Initial));
        if (!(double.IsFinite(factor) && factor > 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Factor), factor, "Factor must be a finite number > 1.");
        }
        OptionChecks.AtLeast(max, initial, nameof(Max));
        Initial = initial;
        Factor = factor;
        Max = max;
    }

    /// <summary>T of the first stage.</summary>
    public long Initial { get; }

    /// <summary>The growth per stage.</summary>
    public double Factor { get; }

    /// <summary>The largest T.</summary>
    public long Max { get; }

    internal override long At(int stage)
    {
        long length = Initial;
        for (int n = 0; n < stage && length < Max; n++)
        {
            // Rounding up keeps every step a real increase, whatever the factor.
            length = (long)Math.Min(Max, Math.Ceiling(length * Factor));
        }
        return length;
    }
}

/// <summary>An explicit ladder of lengths, one per stage; the last is the cap.</summary>
public sealed record ListedLengths : CurriculumLengths
{
    private readonly long[] _lengths;

    /// <summary>Creates the ladder.</summary>
    /// <param name="lengths">At least one length, each ≥ 1, strictly increasing.</param>
    /// <exception cref="ArgumentException">The list is empty, holds a length &lt; 1, or does not increase.</exception>
    public ListedLengths(IReadOnlyList<long> lengths)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        if (lengths.Count == 0)
        {
            throw new ArgumentException("The ladder needs at least one length.", nameof(Lengths));
        }
        for (int n = 0; n < lengths.Count; n++)
        {
            if (lengths[n] < 1 || (n > 0 && lengths[n] <= lengths[n - 1]))
            {
                throw new ArgumentException($"Lengths must be ≥ 1 and strictly increasing; entry {n} is {lengths[n]}.", nameof(Lengths));
            }
        }
        _lengths = [.. lengths];
    }

    /// <summary>The ladder.</summary>
    public IReadOnlyList<long> Lengths => _lengths;

    /// <summary>Whether <paramref name="other"/> holds the same ladder.</summary>
    /// <param name="other">The other ladder.</param>
    /// <returns>True when the lengths are equal, entry by entry.</returns>
    public bool Equals(ListedLengths? other) => other is not null && _lengths.AsSpan().SequenceEqual(other._lengths);

    /// <summary>A hash of the ladder.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (long length in _lengths)
        {
            hash.Add(length);
        }
        return hash.ToHashCode();
    }

    internal override long At(int stage) => _lengths[Math.Min(stage, _lengths.Length - 1)];
}

/// <summary>
/// The α of each stage of a <see cref="ContextMasteryCurriculum"/>: stage 0 has <see cref="Initial"/>
/// (0 by default: the curriculum starts dense), later stages step up (<see cref="SteppedAlpha"/>) or follow
/// the automatic ramp at the stage's length (<see cref="RampAlpha"/>), never above <see cref="Max"/>.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(SteppedAlpha), "stepped")]
[JsonDerivedType(typeof(RampAlpha), "ramp")]
public abstract record CurriculumAlpha
{
    /// <summary>Checks and stores the range shared by every rule.</summary>
    /// <param name="initial">α of stage 0, in [0, 1].</param>
    /// <param name="max">The cap, in [<paramref name="initial"/>, 1].</param>
    private protected CurriculumAlpha(double initial, double max)
    {
        OptionChecks.Alpha(initial, nameof(Initial));
        OptionChecks.InRange(max, initial, 1, nameof(Max));
        Initial = initial;
        Max = max;
    }

    /// <summary>α of stage 0.</summary>
    public double Initial { get; }

    /// <summary>The cap on α.</summary>
    public double Max { get; }

    /// <summary>α at stage <paramref name="stage"/>, whose length is <paramref name="seqLen"/>.</summary>
    internal abstract double At(int stage, long seqLen);
}

/// <summary>α = min(Max, Initial + stage·Step): a fixed step per stage (computed from the stage number, so no rounding error accumulates).</summary>
public sealed record SteppedAlpha : CurriculumAlpha
{
    /// <summary>Creates the rule.</summary>
    /// <param name="step">The step per stage, in (0, 1].</param>
    /// <param name="initial">α of stage 0, in [0, 1].</param>
    /// <param name="max">The cap, in [<paramref name="initial"/>, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range (the exception names it).</exception>
    public SteppedAlpha(double step, double initial = 0, double max = 1)
        : base(initial, max)
    {
        Step = OptionChecks.PositiveAtMost(step, 1, nameof(Step));
    }

    /// <summary>The step per stage.</summary>
    public double Step { get; }

    internal override double At(int stage, long seqLen) => Math.Min(Max, Initial + stage * Step);
}

/// <summary>α = clamp(ramp(T), Initial, Max) at every stage after the first: the automatic α of the stage's length.</summary>
public sealed record RampAlpha : CurriculumAlpha
{
    /// <summary>Creates the rule.</summary>
    /// <param name="ramp">The ramp (seq_low, switch_ctx), as <see cref="AlphaMode.Auto"/> uses it.</param>
    /// <param name="initial">α of stage 0, in [0, 1].</param>
    /// <param name="max">The cap, in [<paramref name="initial"/>, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range (the exception names it).</exception>
    public RampAlpha(AlphaRamp ramp, double initial = 0, double max = 1)
        : base(initial, max)
    {
        ArgumentNullException.ThrowIfNull(ramp, nameof(Ramp));
        Ramp = ramp;
    }

    /// <summary>The ramp.</summary>
    public AlphaRamp Ramp { get; }

    internal override double At(int stage, long seqLen) => stage == 0 ? Initial : Math.Clamp(Ramp.Evaluate(seqLen), Initial, Max);
}

/// <summary>
/// The configuration of a <see cref="ContextMasteryCurriculum"/>. Values are checked when set, naming the field.
/// </summary>
public sealed record ContextMasteryOptions
{
    private readonly CurriculumLengths _lengths = new GeometricLengths(512, 2, 8192);
    private readonly CurriculumAlpha _alpha = new SteppedAlpha(0.25);
    private readonly int _patience = 3;
    private readonly double _minRelativeImprovement = 0.01;
    private readonly double _smoothing;

    /// <summary>The length of each stage; by default 512 doubling to 8192.</summary>
    public CurriculumLengths Lengths
    {
        get => _lengths;
        init => _lengths = value ?? throw new ArgumentNullException(nameof(Lengths));
    }

    /// <summary>The α of each stage; by default 0 stepping by 0.25 to 1.</summary>
    public CurriculumAlpha Alpha
    {
        get => _alpha;
        init => _alpha = value ?? throw new ArgumentNullException(nameof(Alpha));
    }

    /// <summary>How many evaluations in a row without a real improvement make a plateau, ≥ 1; 3 by default.</summary>
    public int Patience
    {
        get => _patience;
        init => _patience = OptionChecks.AtLeast(value, 1, nameof(Patience));
    }

    /// <summary>
    /// The smallest relative improvement that counts, in [0, 1): an evaluation improves when
    /// best − loss &gt; MinRelativeImprovement·|best| (on the smoothed loss); 0.01 by default.
    /// </summary>
    public double MinRelativeImprovement
    {
        get => _minRelativeImprovement;
        init
        {
            if (!(double.IsFinite(value) && value >= 0 && value < 1))
            {
                throw new ArgumentOutOfRangeException(nameof(MinRelativeImprovement), value, "MinRelativeImprovement must be a finite number in [0, 1).");
            }
            _minRelativeImprovement = value;
        }
    }

    /// <summary>
    /// EMA smoothing of the losses, in [0, 1): smoothed = Smoothing·smoothed + (1 − Smoothing)·loss, starting
    /// from the first loss of each stage. 0 (the default) uses the raw losses.
    /// </summary>
    public double Smoothing
    {
        get => _smoothing;
        init
        {
            if (!(double.IsFinite(value) && value >= 0 && value < 1))
            {
                throw new ArgumentOutOfRangeException(nameof(Smoothing), value, "Smoothing must be a finite number in [0, 1).");
            }
            _smoothing = value;
        }
    }
}
