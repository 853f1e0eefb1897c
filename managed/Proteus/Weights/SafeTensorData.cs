using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Proteus;

/// <summary>
/// A tensor to write with <see cref="SafeTensorsFile.Write"/>: name, element type, shape and its data as the file
/// stores it (little-endian, row-major, contiguous). The constructor checks that the data is exactly
/// <c>product(shape) × element size</c> bytes.
/// </summary>
public sealed class SafeTensorData
{
    /// <summary>Creates a tensor from its stored bytes.</summary>
    /// <param name="name">The tensor's name: any string but <c>__metadata__</c>.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">The dimensions, each ≥ 0; empty for a scalar.</param>
    /// <param name="data">The elements, little-endian, row-major.</param>
    /// <exception cref="ArgumentException">The name is <c>__metadata__</c>, a dimension is negative, or the data's length does not match the shape.</exception>
    public SafeTensorData(string name, SafeTensorsDType dtype, ReadOnlySpan<long> shape, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == SafeTensorsHeader.MetadataKey)
        {
            throw new ArgumentException($"\"{SafeTensorsHeader.MetadataKey}\" is the header's metadata entry, not a tensor name.", nameof(name));
        }
        long elements = SafeTensorsHeader.ElementCount(shape)
            ?? throw new ArgumentException($"Tensor \"{name}\": shape {SafeTensorInfo.FormatShape(shape.ToArray())} has a negative dimension or too many elements.", nameof(shape));
        long expected = checked(elements * dtype.ElementSize());
        if (data.Length != expected)
        {
            throw new ArgumentException(
                $"Tensor \"{name}\": {data.Length} bytes of data, but shape {SafeTensorInfo.FormatShape(shape.ToArray())} of {dtype.FormatName()} needs {expected}.",
                nameof(data));
        }
        Name = name;
        DType = dtype;
        Shape = Array.AsReadOnly(shape.ToArray());
        Data = data;
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public SafeTensorsDType DType { get; }

    /// <summary>The dimensions; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The elements as stored: little-endian, row-major.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>
    /// A tensor of float values stored as <paramref name="dtype"/>: F32 as is, F64 widened, F16 and BF16 rounded to
    /// nearest, ties to even.
    /// </summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="shape">The dimensions; their product must be <paramref name="values"/>' length.</param>
    /// <param name="values">The elements, row-major.</param>
    /// <param name="dtype">F32 (the default), F16, BF16 or F64.</param>
    /// <returns>The tensor, holding a converted copy of <paramref name="values"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not a float type, or the shape does not match the values.</exception>
    public static SafeTensorData FromFloats(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values, SafeTensorsDType dtype = SafeTensorsDType.Float32)
    {
        if (!dtype.ConvertsToFloat())
        {
            throw new ArgumentException($"Tensor \"{name}\": float values are stored as F32, F16, BF16 or F64, not {dtype.FormatName()}.", nameof(dtype));
        }
        var bytes = new byte[checked(values.Length * dtype.ElementSize())];
        for (int i = 0; i < values.Length; i++)
        {
            switch (dtype)
            {
                case SafeTensorsDType.Float32:
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
                    break;
                case SafeTensorsDType.Float64:
                    BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8 * i), values[i]);
                    break;
                case SafeTensorsDType.Float16:
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)values[i]);
                    break;
                default:
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), ((BFloat16)values[i]).RawValue);
                    break;
            }
        }
        return new SafeTensorData(name, dtype, shape, bytes);
    }

    /// <summary>A tensor of <typeparamref name="T"/> elements stored as they are (on a little-endian machine, the file's order).</summary>
    /// <typeparam name="T">An element type of the same size as <paramref name="dtype"/>'s: int for I32, long for I64, Half for F16, …</typeparam>
    /// <param name="name">The tensor's name.</param>
    /// <param name="dtype">The element type as the file names it.</param>
    /// <param name="shape">The dimensions.</param>
    /// <param name="values">The elements, row-major.</param>
    /// <returns>The tensor, holding a copy of <paramref name="values"/>' bytes.</returns>
    /// <exception cref="ArgumentException">The element sizes differ, or the shape does not match the values.</exception>
    public static SafeTensorData FromElements<T>(string name, SafeTensorsDType dtype, ReadOnlySpan<long> shape, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("FromElements copies elements as they are in memory, which is the file's order only on a little-endian machine.");
        }
        if (Unsafe.SizeOf<T>() != dtype.ElementSize())
        {
            throw new ArgumentException(
                $"Tensor \"{name}\": {typeof(T).Name} elements are {Unsafe.SizeOf<T>()} bytes, {dtype.FormatName()} elements {dtype.ElementSize()}.", nameof(values));
        }
        return new SafeTensorData(name, dtype, shape, MemoryMarshal.AsBytes(values).ToArray());
    }
}
