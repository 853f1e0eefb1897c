using System.Runtime.InteropServices;
using System.Text;

namespace Proteus;

/// <summary>UTF-8 text from the C ABI: returned strings and fixed-capacity character arrays.</summary>
internal static unsafe class NativeText
{
    /// <summary>The text of a NUL-terminated string; empty for null.</summary>
    public static string FromNullTerminated(byte* text) => text == null ? string.Empty : Marshal.PtrToStringUTF8((nint)text) ?? string.Empty;

    /// <summary>The text of a fixed array of <paramref name="capacity"/> bytes, up to its first NUL.</summary>
    public static string FromFixed(byte* text, int capacity)
    {
        var bytes = new ReadOnlySpan<byte>(text, capacity);
        int end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }
}
