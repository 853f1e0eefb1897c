namespace Proteus;

/// <summary>
/// The range checks of the option records (flux parameters, launch configuration, scheduling). Each throws <see cref="ArgumentOutOfRangeException"/>
/// naming the option, so a bad configuration says which field is wrong.
/// </summary>
internal static class OptionChecks
{
    /// <summary><paramref name="value"/> ≥ <paramref name="minimum"/>.</summary>
    public static long AtLeast(long value, long minimum, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, minimum, name);
        return value;
    }

    /// <summary><paramref name="value"/> ≥ <paramref name="minimum"/>.</summary>
    public static int AtLeast(int value, int minimum, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, minimum, name);
        return value;
    }

    /// <summary><paramref name="low"/> ≤ <paramref name="value"/> ≤ <paramref name="high"/>.</summary>
    public static int InRange(int value, int low, int high, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, low, name);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, high, name);
        return value;
    }

    /// <summary>Null, or ≥ <paramref name="minimum"/>.</summary>
    public static long? AtLeast(long? value, long minimum, string name)
    {
        if (value is { } v)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(v, minimum, name);
        }
        return value;
    }

    /// <summary>Null (1/sqrt(D)), or a finite softmax scale &gt; 0.</summary>
    public static float? SoftmaxScale(float? value, string name)
    {
        if (value is { } scale && !(float.IsFinite(scale) && scale > 0))
        {
            throw new ArgumentOutOfRangeException(name, value, "The scale must be finite and > 0, or null for 1/sqrt(D).");
        }
        return value;
    }

    /// <summary>A finite number in [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static double InRange(double value, double low, double high, string name)
    {
        if (!(double.IsFinite(value) && value >= low && value <= high))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number in [{low}, {high}].");
        }
        return value;
    }

    /// <summary>A finite number in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static double InRangeBelow(double value, double low, double high, string name)
    {
        if (!(double.IsFinite(value) && value >= low && value < high))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number in [{low}, {high}).");
        }
        return value;
    }

    /// <summary>A finite number ≥ 0.</summary>
    public static double NonNegative(double value, string name)
    {
        if (!(double.IsFinite(value) && value >= 0))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number >= 0.");
        }
        return value;
    }

    /// <summary>Null, or a finite number in [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static double? InRange(double? value, double low, double high, string name)
    {
        if (value is { } v)
        {
            InRange(v, low, high, name);
        }
        return value;
    }

    /// <summary>A finite number &gt; 0.</summary>
    public static double Positive(double value, string name)
    {
        if (!(double.IsFinite(value) && value > 0))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number > 0.");
        }
        return value;
    }

    /// <summary>Null, or a finite number &gt; 0.</summary>
    public static double? Positive(double? value, string name)
    {
        if (value is { } v)
        {
            Positive(v, name);
        }
        return value;
    }

    /// <summary>A finite number in (0, <paramref name="high"/>].</summary>
    public static double PositiveAtMost(double value, double high, string name)
    {
        if (!(double.IsFinite(value) && value > 0 && value <= high))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number in (0, {high}].");
        }
        return value;
    }

    /// <summary>A defined member of <typeparamref name="TEnum"/>.</summary>
    public static TEnum Defined<TEnum>(TEnum value, string name)
        where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{value} is not a {typeof(TEnum).Name}.");
        }
        return value;
    }

    /// <summary>An α: a finite number in [0, 1].</summary>
    public static double Alpha(double value, string name) => InRange(value, 0, 1, name);
}
