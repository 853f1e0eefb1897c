namespace Proteus;

/// <summary>
/// The automatic flux alpha (docs/flux-attention.md §4): α(T) = 0 for T ≤ seq_low, 1 for T ≥ switch_ctx, and
/// (T − seq_low) / (switch_ctx − seq_low) between. It has no state; <see cref="AlphaSchedule"/> adds the
/// modes, the explicit override, hysteresis and latency control around it.
/// </summary>
public sealed record AlphaRamp
{
    /// <summary>switch_ctx when none is configured: 20000.</summary>
    public const long DefaultSwitchContext = 20000;

    /// <summary>The smallest seq_low when it is derived from the head dim: seq_low = max(64, D).</summary>
    public const long MinimumDerivedSeqLow = 64;

    /// <summary>Creates the ramp from seq_low to switch_ctx.</summary>
    /// <param name="seqLow">seq_low ≥ 0: α is 0 up to this length.</param>
    /// <param name="switchContext">switch_ctx &gt; seq_low: α is 1 from this length on.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="seqLow"/> is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="switchContext"/> ≤ <paramref name="seqLow"/>.</exception>
    public AlphaRamp(long seqLow, long switchContext)
    {
        OptionChecks.AtLeast(seqLow, 0, nameof(SeqLow));
        if (switchContext <= seqLow)
        {
            throw new ArgumentException(
                $"SwitchContext ({switchContext}) must be greater than SeqLow ({seqLow}): the ramp rises from seq_low to switch_ctx.",
                nameof(SwitchContext));
        }
        SeqLow = seqLow;
        SwitchContext = switchContext;
    }

    /// <summary>seq_low: α is 0 for T ≤ seq_low.</summary>
    public long SeqLow { get; }

    /// <summary>switch_ctx: α is 1 for T ≥ switch_ctx.</summary>
    public long SwitchContext { get; }

    /// <summary>The ramp with the default seq_low = max(64, D) (docs/flux-attention.md §4).</summary>
    /// <param name="headDim">D ≥ 1.</param>
    /// <param name="switchContext">switch_ctx; 20000 when not given.</param>
    /// <returns>The ramp.</returns>
    public static AlphaRamp ForHeadDim(long headDim, long switchContext = DefaultSwitchContext)
    {
        OptionChecks.AtLeast(headDim, 1, nameof(headDim));
        return new AlphaRamp(Math.Max(MinimumDerivedSeqLow, headDim), switchContext);
    }

    /// <summary>α at sequence length <paramref name="seqLen"/>.</summary>
    /// <param name="seqLen">T ≥ 1.</param>
    /// <returns>α ∈ [0, 1]; the quotient of two integers, so exact up to the final rounding.</returns>
    public double Evaluate(long seqLen)
    {
        OptionChecks.AtLeast(seqLen, 1, nameof(seqLen));
        if (seqLen <= SeqLow)
        {
            return 0;
        }
        if (seqLen >= SwitchContext)
        {
            return 1;
        }
        return (double)(seqLen - SeqLow) / (SwitchContext - SeqLow);
    }
}
