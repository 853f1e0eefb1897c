using System.Buffers.Binary;
using System.Text;

namespace Proteus.Tests.Weights;

/// <summary>
/// Files for the safetensors tests, in a folder of their own that is deleted at the end: written by
/// <see cref="SafeTensorsFile.Write"/>, or assembled byte by byte from a header and data as a test spells them out.
/// </summary>
internal sealed class SafeTensorsFiles : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("proteus-safetensors-").FullName;
    private int _count;

    /// <summary>A fresh path in the folder.</summary>
    public string NewPath(string stem = "weights") => Path.Combine(_folder, $"{stem}-{Interlocked.Increment(ref _count)}.safetensors");

    /// <summary>Writes raw bytes to a fresh path.</summary>
    public string WithBytes(byte[] bytes)
    {
        string path = NewPath();
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A file of the given header, length prefix and data; the prefix says the header's UTF-8 length unless given.</summary>
    public string WithHeader(string header, byte[]? data = null, ulong? declaredLength = null) =>
        WithBytes(Assemble(header, data ?? [], declaredLength));

    /// <summary>The 8-byte little-endian length, the header as UTF-8 (no padding added), the data.</summary>
    public static byte[] Assemble(string header, byte[] data, ulong? declaredLength = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + json.Length);
        return bytes;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
