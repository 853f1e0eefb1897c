using System.Globalization;

namespace Proteus;

/// <summary>A tensor as a safetensors header describes it: its name, element type, shape and where its data lies.</summary>
public sealed class SafeTensorInfo
{
    internal SafeTensorInfo(string name, SafeTensorsDType dtype, long[] shape, long dataBegin, long dataEnd)
    {
        Name = name;
        DType = dtype;
        Shape = Array.AsReadOnly(shape);
        DataBegin = dataBegin;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor's name ("attn.qkv.weight").</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public SafeTensorsDType DType { get; }

    /// <summary>The dimensions, outermost first; empty for a scalar. The data is row-major and contiguous.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar, 0 when a dimension is 0).</summary>
    public long ElementCount => ByteLength / DType.ElementSize();

    /// <summary>The size of the data in bytes.</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>Where the data begins, in bytes from the end of the header (the file's <c>data_offsets[0]</c>).</summary>
    public long DataBegin { get; }

    /// <summary>Where the data ends, exclusive, in bytes from the end of the header (<c>data_offsets[1]</c>).</summary>
    public long DataEnd { get; }

    /// <summary>The shape as text: "[3072, 1024]", "[]" for a scalar.</summary>
    /// <param name="shape">The dimensions.</param>
    /// <returns>The dimensions in brackets, comma-separated.</returns>
    public static string FormatShape(IEnumerable<long> shape) =>
        $"[{string.Join(", ", shape.Select(dim => dim.ToString(CultureInfo.InvariantCulture)))}]";

    /// <summary>The tensor as the header describes it: name, dtype and shape.</summary>
    /// <returns>For example <c>attn.qkv.weight F32 [3072, 1024]</c>.</returns>
    public override string ToString() => $"{Name} {DType.FormatName()} {FormatShape(Shape)}";
}
