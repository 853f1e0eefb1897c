namespace Proteus;

/// <summary>
/// The element type of a tensor in a safetensors file (its <c>"dtype"</c>). Every whole-byte type of the
/// format; the sub-byte ones (F4, F6_E2M3, F6_E3M2) are not read. The members are in the reference
/// implementation's order, increasing alignment: its writer lays tensors out by descending dtype in this order, then
/// by name, and <see cref="SafeTensorsFile.Write"/> does the same, so every tensor's data is aligned to its element size
/// and a file written here is byte for byte the file the reference would write.
/// </summary>
public enum SafeTensorsDType
{
    /// <summary>BOOL: one byte, 0 or 1.</summary>
    Bool,

    /// <summary>U8.</summary>
    UInt8,

    /// <summary>I8.</summary>
    Int8,

    /// <summary>F8_E5M2: 8-bit float, 5 exponent and 2 mantissa bits.</summary>
    Float8E5M2,

    /// <summary>F8_E4M3: 8-bit float, 4 exponent and 3 mantissa bits (PyTorch's float8_e4m3fn).</summary>
    Float8E4M3,

    /// <summary>F8_E8M0: 8-bit power-of-two scale (PyTorch's float8_e8m0fnu).</summary>
    Float8E8M0,

    /// <summary>F8_E4M3FNUZ.</summary>
    Float8E4M3Fnuz,

    /// <summary>F8_E5M2FNUZ.</summary>
    Float8E5M2Fnuz,

    /// <summary>I16.</summary>
    Int16,

    /// <summary>U16.</summary>
    UInt16,

    /// <summary>F16: IEEE 754 binary16.</summary>
    Float16,

    /// <summary>BF16: bfloat16.</summary>
    BFloat16,

    /// <summary>I32.</summary>
    Int32,

    /// <summary>U32.</summary>
    UInt32,

    /// <summary>F32: IEEE 754 binary32.</summary>
    Float32,

    /// <summary>C64: a complex number of two binary32, real part first.</summary>
    Complex64,

    /// <summary>F64: IEEE 754 binary64.</summary>
    Float64,

    /// <summary>I64.</summary>
    Int64,

    /// <summary>U64.</summary>
    UInt64,
}

/// <summary>The format's names and the element sizes of <see cref="SafeTensorsDType"/>.</summary>
public static class SafeTensorsDTypes
{
    private static readonly string[] Names =
    [
        "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
        "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64",
    ];

    private static readonly Dictionary<string, SafeTensorsDType> ByName =
        Enum.GetValues<SafeTensorsDType>().ToDictionary(dtype => Names[(int)dtype], StringComparer.Ordinal);

    /// <summary>The format's sub-byte types, which this reader recognises but does not read.</summary>
    private static readonly string[] SubByteNames = ["F4", "F6_E2M3", "F6_E3M2"];

    /// <summary>The name a file uses for <paramref name="dtype"/> ("F32", "BF16", …).</summary>
    /// <param name="dtype">The element type.</param>
    /// <returns>The name, as written in the header's <c>"dtype"</c>.</returns>
    public static string FormatName(this SafeTensorsDType dtype) => Names[Checked(dtype)];

    /// <summary>The size of one element in bytes.</summary>
    /// <param name="dtype">The element type.</param>
    /// <returns>1, 2, 4 or 8.</returns>
    public static int ElementSize(this SafeTensorsDType dtype) => Checked(dtype) switch
    {
        <= (int)SafeTensorsDType.Float8E5M2Fnuz => 1,
        <= (int)SafeTensorsDType.BFloat16 => 2,
        <= (int)SafeTensorsDType.Float32 => 4,
        _ => 8,
    };

    /// <summary>Whether <see cref="SafeTensorsFile.ReadFloats(string)"/> converts this type: F32, F16, BF16 and F64.</summary>
    /// <param name="dtype">The element type.</param>
    /// <returns>True for the four IEEE-style float types.</returns>
    public static bool ConvertsToFloat(this SafeTensorsDType dtype) =>
        dtype is SafeTensorsDType.Float32 or SafeTensorsDType.Float16 or SafeTensorsDType.BFloat16 or SafeTensorsDType.Float64;

    /// <summary>The element type a header names, or why there is none.</summary>
    internal static bool TryParse(string name, out SafeTensorsDType dtype, out string problem)
    {
        if (ByName.TryGetValue(name, out dtype))
        {
            problem = "";
            return true;
        }
        problem = SubByteNames.Contains(name, StringComparer.Ordinal)
            ? $"dtype \"{name}\" is a sub-byte type, which this reader does not read"
            : $"unknown dtype \"{name}\" (known: {string.Join(", ", Names)})";
        return false;
    }

    private static int Checked(SafeTensorsDType dtype) => Enum.IsDefined(dtype)
        ? (int)dtype
        : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype.");
}
