using System.Globalization;

namespace Proteus;

/// <summary>
/// A bfloat16 number: the sign, the 8 exponent bits and the upper 7 mantissa bits of a <see cref="float"/>.
/// Conversion from <see cref="float"/> rounds to nearest, ties to even, exactly as libproteus does;
/// NaN stays NaN. Equality and ordering follow <see cref="float"/>'s.
/// </summary>
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>, IComparable, IFormattable
{
    private BFloat16(ushort rawValue) => RawValue = rawValue;

    /// <summary>The 16-bit pattern as stored in device memory.</summary>
    public ushort RawValue { get; }

    /// <summary>The number with the given 16-bit pattern.</summary>
    /// <param name="rawValue">The bits: sign, 8 exponent bits, 7 mantissa bits.</param>
    /// <returns>The bfloat16 with exactly those bits.</returns>
    public static BFloat16 FromRawValue(ushort rawValue) => new(rawValue);

    /// <summary>Whether the value is not a number.</summary>
    /// <param name="value">The value to test.</param>
    /// <returns><see langword="true"/> for any NaN pattern.</returns>
    public static bool IsNaN(BFloat16 value) => (value.RawValue & 0x7fff) > 0x7f80;

    /// <summary>Rounds a <see cref="float"/> to the nearest bfloat16, ties to even; NaN becomes a quiet NaN of the same sign.</summary>
    /// <param name="value">The value to round.</param>
    public static explicit operator BFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7fffffffu) > 0x7f800000u)
        {
            // Truncation alone could clear every mantissa bit left and turn NaN into infinity.
            return new BFloat16((ushort)((bits >> 16) | 0x40u));
        }
        // Adding 0x7fff plus the lowest kept bit rounds to nearest-even; a carry into the exponent is correct (up to infinity).
        return new BFloat16((ushort)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16));
    }

    /// <summary>Widens a bfloat16 to the <see cref="float"/> of the same value (exact).</summary>
    /// <param name="value">The value to widen.</param>
    public static explicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value.RawValue << 16);

    /// <summary>IEEE equality: NaN equals nothing, +0 equals −0.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    public static bool operator ==(BFloat16 left, BFloat16 right) => (float)left == (float)right;

    /// <summary>IEEE inequality: true whenever either side is NaN.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    public static bool operator !=(BFloat16 left, BFloat16 right) => (float)left != (float)right;

    /// <summary>IEEE less-than (false when either side is NaN).</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    public static bool operator <(BFloat16 left, BFloat16 right) => (float)left < (float)right;

    /// <summary>IEEE greater-than (false when either side is NaN).</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    public static bool operator >(BFloat16 left, BFloat16 right) => (float)left > (float)right;

    /// <summary>IEEE less-or-equal (false when either side is NaN).</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    public static bool operator <=(BFloat16 left, BFloat16 right) => (float)left <= (float)right;

    /// <summary>IEEE greater-or-equal (false when either side is NaN).</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    public static bool operator >=(BFloat16 left, BFloat16 right) => (float)left >= (float)right;

    /// <summary>Equality as <see cref="float.Equals(float)"/> defines it: NaN equals NaN, +0 equals −0.</summary>
    /// <param name="other">The value to compare with.</param>
    /// <returns>Whether both represent the same number (or both are NaN).</returns>
    public bool Equals(BFloat16 other) => ((float)this).Equals((float)other);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => ((float)this).GetHashCode();

    /// <summary>Orders as <see cref="float.CompareTo(float)"/>: NaN first, then −∞ … +∞.</summary>
    /// <param name="other">The value to compare with.</param>
    /// <returns>Negative, zero or positive as this is less than, equal to or greater than <paramref name="other"/>.</returns>
    public int CompareTo(BFloat16 other) => ((float)this).CompareTo((float)other);

    /// <inheritdoc/>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        BFloat16 other => CompareTo(other),
        _ => throw new ArgumentException($"Object must be of type {nameof(BFloat16)}.", nameof(obj)),
    };

    /// <summary>The value formatted as the <see cref="float"/> it widens to, in the current culture.</summary>
    /// <returns>The shortest text that round-trips the widened value.</returns>
    public override string ToString() => ((float)this).ToString(CultureInfo.CurrentCulture);

    /// <summary>The value formatted as the <see cref="float"/> it widens to.</summary>
    /// <param name="format">A numeric format string, or null for the general format.</param>
    /// <param name="formatProvider">Culture-specific formatting, or null for the current culture.</param>
    /// <returns>The formatted value.</returns>
    public string ToString(string? format, IFormatProvider? formatProvider) => ((float)this).ToString(format, formatProvider);
}
