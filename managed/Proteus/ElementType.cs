using Proteus.Interop;

namespace Proteus;

/// <summary>
/// The <see cref="DType"/> of the element type <typeparamref name="T"/>: float, Half, <see cref="BFloat16"/>
/// byte or int. Computed once per type; the JIT folds the comparisons.
/// </summary>
internal static class ElementType<T>
    where T : unmanaged
{
    private static readonly DType? Mapped =
        typeof(T) == typeof(float) ? DType.Float32
        : typeof(T) == typeof(Half) ? DType.Float16
        : typeof(T) == typeof(BFloat16) ? DType.BFloat16
        : typeof(T) == typeof(byte) ? DType.UInt8
        : typeof(T) == typeof(int) ? DType.Int32
        : null;

    /// <summary>The element type, or <see cref="NotSupportedException"/> when the library has none for <typeparamref name="T"/>.</summary>
    public static DType DType => Mapped ?? throw new NotSupportedException(
        $"Device buffers hold float, Half, BFloat16, byte or int elements, not {typeof(T).FullName}.");

    /// <summary>The element type as the C ABI spells it.</summary>
    public static int NativeDType => (int)DType;

    /// <summary>The size of one element in bytes.</summary>
    public static unsafe int Size => sizeof(T);
}
