namespace Proteus;

/// <summary>float32 ↔ the activation types (float, <see cref="Half"/>, <see cref="BFloat16"/>) on the host, rounding to nearest even.</summary>
public static class ElementConversions
{
    /// <summary>The values as <typeparamref name="T"/>.</summary>
    /// <exception cref="NotSupportedException">T is not float, Half or BFloat16.</exception>
    public static T[] FromSingle<T>(ReadOnlySpan<float> values)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return (T[])(object)values.ToArray();
        }
        var result = new T[values.Length];
        if (typeof(T) == typeof(Half))
        {
            var halves = (Half[])(object)result;
            for (int i = 0; i < values.Length; i++)
            {
                halves[i] = (Half)values[i];
            }
        }
        else if (typeof(T) == typeof(BFloat16))
        {
            var bfloats = (BFloat16[])(object)result;
            for (int i = 0; i < values.Length; i++)
            {
                bfloats[i] = (BFloat16)values[i];
            }
        }
        else
        {
            throw new NotSupportedException($"Activations are float, Half or BFloat16, not {typeof(T).Name}.");
        }
        return result;
    }

    /// <summary>The values as float32.</summary>
    /// <exception cref="NotSupportedException">T is not float, Half or BFloat16.</exception>
    public static float[] ToSingle<T>(ReadOnlySpan<T> values)
        where T : unmanaged
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            T value = values[i];
            result[i] = value switch
            {
                float f => f,
                Half h => (float)h,
                BFloat16 b => (float)b,
                _ => throw new NotSupportedException($"Activations are float, Half or BFloat16, not {typeof(T).Name}."),
            };
        }
        return result;
    }
}

/// <summary>Initial weights of the layers: N(0, std) from a seeded generator, written to the device.</summary>
internal static class Initialisation
{
    /// <summary>Fills the buffer with N(0, <paramref name="std"/>) values (Box–Muller) and returns it.</summary>
    public static DeviceBuffer<T> Normal<T>(DeviceBuffer<T> buffer, Random random, double std)
        where T : unmanaged
    {
        var values = new float[buffer.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = (float)(std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        buffer.CopyFrom(ElementConversions.FromSingle<T>(values));
        return buffer;
    }

    /// <summary>Fills the buffer with <paramref name="value"/> and returns it.</summary>
    public static DeviceBuffer<float> Constant(DeviceBuffer<float> buffer, float value)
    {
        buffer.Fill(value);
        return buffer;
    }
}
