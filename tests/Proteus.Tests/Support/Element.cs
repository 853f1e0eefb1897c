using System.Runtime.CompilerServices;

namespace Proteus.Tests.Support;

/// <summary>
/// The storage element types of flux attention (float, Half, BFloat16) seen generically: rounding a
/// double into the type, widening back, and the NaN used to poison outputs.
/// </summary>
public static class Element<T> where T : unmanaged
{
    /// <summary>A quiet NaN of the type.</summary>
    public static T NaN => FromDouble(double.NaN);

    /// <summary>The value of the type nearest to <paramref name="value"/> (through float, as a caller would store it).</summary>
    public static T FromDouble(double value)
    {
        float single = (float)value;
        if (typeof(T) == typeof(float))
        {
            return Unsafe.As<float, T>(ref single);
        }
        if (typeof(T) == typeof(Half))
        {
            Half half = (Half)single;
            return Unsafe.As<Half, T>(ref half);
        }
        BFloat16 brain = (BFloat16)single;
        return Unsafe.As<BFloat16, T>(ref brain);
    }

    /// <summary>The exact value of <paramref name="value"/> as a double.</summary>
    public static double ToDouble(T value)
    {
        if (typeof(T) == typeof(float))
        {
            return Unsafe.As<T, float>(ref value);
        }
        if (typeof(T) == typeof(Half))
        {
            return (double)Unsafe.As<T, Half>(ref value);
        }
        return (float)Unsafe.As<T, BFloat16>(ref value);
    }
}

/// <summary>Per-dtype facts used by the tests.</summary>
public static class DTypes
{
    /// <summary>The flux attention storage dtypes.</summary>
    public static readonly DType[] Storage = [DType.Float32, DType.Float16, DType.BFloat16];

    /// <summary>SPEC §9: the largest relative L2 error ‖out − ref‖ / ‖ref‖ allowed for the dtype.</summary>
    public static double Tolerance(DType dtype) => dtype switch
    {
        DType.Float32 => 1e-5,
        DType.Float16 => 2e-3,
        DType.BFloat16 => 1e-2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a storage dtype"),
    };

    /// <summary>The value of the dtype nearest to <paramref name="value"/>, widened back to double.</summary>
    public static double Round(DType dtype, double value) => dtype switch
    {
        DType.Float32 => Element<float>.ToDouble(Element<float>.FromDouble(value)),
        DType.Float16 => Element<Half>.ToDouble(Element<Half>.FromDouble(value)),
        DType.BFloat16 => Element<BFloat16>.ToDouble(Element<BFloat16>.FromDouble(value)),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a storage dtype"),
    };

    /// <summary>Short name for test names.</summary>
    public static string ShortName(DType dtype) => dtype switch
    {
        DType.Float32 => "f32",
        DType.Float16 => "f16",
        DType.BFloat16 => "bf16",
        _ => dtype.ToString(),
    };
}
