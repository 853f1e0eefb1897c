using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Proteus;

/// <summary>
/// A safetensors file (https://huggingface.co/docs/safetensors) opened for reading: the header is read and checked
/// whole by <see cref="Open"/>, tensors' data is read from the file when asked for. Reads may run on several threads
/// at once. <see cref="Write"/> writes one.
/// </summary>
/// <example>
/// <code>
/// using var weights = SafeTensorsFile.Open("block.safetensors");
/// float[] qkv = weights.ReadFloats("attn.qkv.weight");   // F32, F16, BF16 or F64 in the file
/// </code>
/// </example>
public sealed class SafeTensorsFile : IDisposable
{
    private const int LengthPrefix = sizeof(ulong);

    /// <summary>Elements converted per read when the file's type is not float: bounds the scratch buffer.</summary>
    private const int ConversionChunk = 1 << 16;

    private readonly SafeFileHandle _file;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _byName;

    private SafeTensorsFile(string path, SafeFileHandle file, long dataStart, SafeTensorInfo[] tensors, Dictionary<string, string> metadata)
    {
        FilePath = path;
        _file = file;
        _dataStart = dataStart;
        Tensors = Array.AsReadOnly(tensors);
        Metadata = metadata.AsReadOnly();
        _byName = tensors.ToDictionary(tensor => tensor.Name, StringComparer.Ordinal);
    }

    /// <summary>The path the file was opened with.</summary>
    public string FilePath { get; }

    /// <summary>Every tensor in the file, by name (ordinal order).</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> strings; empty when it has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens a safetensors file and checks its header against its length.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The open file; dispose it to close the file.</returns>
    /// <exception cref="SafeTensorsFormatException">
    /// The file is not well formed: shorter than its header length, a header that is not UTF-8 JSON, an unknown dtype,
    /// a negative dimension, a name given twice, or data offsets that run out of the file, overlap, leave a gap, or do
    /// not match shape × dtype size. The message names the file and the tensor.
    /// </exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long fileLength = RandomAccess.GetLength(file);
            if (fileLength < LengthPrefix)
            {
                throw new SafeTensorsFormatException(path, null, $"the file is {fileLength} bytes, too short for the 8-byte header length");
            }
            Span<byte> prefix = stackalloc byte[LengthPrefix];
            ReadExactly(path, file, prefix, 0, null);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > (ulong)(fileLength - LengthPrefix))
            {
                throw new SafeTensorsFormatException(path, null,
                    $"the header length {headerLength} is larger than the file ({fileLength} bytes, {fileLength - LengthPrefix} after the length)");
            }
            if (headerLength > SafeTensorsHeader.MaxLength)
            {
                throw new SafeTensorsFormatException(path, null,
                    $"the header length {headerLength} is over the format's limit of {SafeTensorsHeader.MaxLength} bytes");
            }
            var header = new byte[headerLength];
            ReadExactly(path, file, header, LengthPrefix, null);
            long dataStart = LengthPrefix + (long)headerLength;
            var (tensors, metadata) = SafeTensorsHeader.Parse(path, header, fileLength - dataStart);
            return new SafeTensorsFile(path, file, dataStart, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> to a safetensors file as the reference writer does: by descending
    /// <see cref="SafeTensorsDType"/> (so each tensor's data is aligned to its element size), then by name; the header
    /// padded with spaces to a multiple of 8 bytes. Everything is checked before the file is created.
    /// </summary>
    /// <param name="path">The file; replaced if it exists.</param>
    /// <param name="tensors">The tensors, in any order, with distinct names.</param>
    /// <param name="metadata">Strings for the header's <c>__metadata__</c>; none when null or empty.</param>
    /// <exception cref="ArgumentException">Two tensors have the same name, or a name or string is not valid UTF-16.</exception>
    public static void Write(string path, IEnumerable<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var strictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var ordered = tensors
            .Select(tensor => (Tensor: tensor, Utf8Name: strictUtf8.GetBytes(tensor.Name)))
            .OrderByDescending(item => item.Tensor.DType)
            .ThenBy(item => item.Utf8Name, Utf8Order.Instance)  // the reference compares names as UTF-8 bytes
            .Select(item => item.Tensor)
            .ToList();
        string? duplicate = ordered.GroupBy(tensor => tensor.Name, StringComparer.Ordinal).FirstOrDefault(group => group.Count() > 1)?.Key;
        if (duplicate is not null)
        {
            throw new ArgumentException($"Two tensors are named \"{duplicate}\".", nameof(tensors));
        }
        byte[] header = SafeTensorsHeader.Write(ordered, metadata);

        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Span<byte> prefix = stackalloc byte[LengthPrefix];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (SafeTensorData tensor in ordered)
        {
            stream.Write(tensor.Data.Span);
        }
    }

    /// <summary>Whether the file holds a tensor of that name.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>True when it does.</returns>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header's description of a tensor.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>Its dtype, shape and data offsets.</returns>
    /// <exception cref="KeyNotFoundException">The file holds no tensor of that name.</exception>
    public SafeTensorInfo GetInfo(string name) => _byName.TryGetValue(name, out SafeTensorInfo? info)
        ? info
        : throw new KeyNotFoundException($"{FilePath} holds no tensor \"{name}\" ({Tensors.Count} tensors).");

    /// <summary>A tensor's data as stored: little-endian, row-major.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>A new array of <see cref="SafeTensorInfo.ByteLength"/> bytes.</returns>
    /// <exception cref="KeyNotFoundException">The file holds no tensor of that name.</exception>
    public byte[] ReadBytes(string name)
    {
        SafeTensorInfo info = GetInfo(name);
        var bytes = new byte[CheckedArrayLength(info, info.ByteLength, "bytes")];
        ReadBytes(name, bytes);
        return bytes;
    }

    /// <summary>A tensor's data as stored, into <paramref name="destination"/>.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="destination">Exactly <see cref="SafeTensorInfo.ByteLength"/> bytes.</param>
    /// <exception cref="KeyNotFoundException">The file holds no tensor of that name.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has another length.</exception>
    public void ReadBytes(string name, Span<byte> destination)
    {
        SafeTensorInfo info = GetInfo(name);
        CheckDestination(info, destination.Length, info.ByteLength, "bytes");
        ReadData(info, destination, 0);
    }

    /// <summary>A tensor's elements as float: F32 as stored, F16 and BF16 widened exactly, F64 rounded to nearest.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>A new array of <see cref="SafeTensorInfo.ElementCount"/> floats, row-major.</returns>
    /// <exception cref="KeyNotFoundException">The file holds no tensor of that name.</exception>
    /// <exception cref="NotSupportedException">The tensor is not F32, F16, BF16 or F64.</exception>
    public float[] ReadFloats(string name)
    {
        SafeTensorInfo info = GetInfo(name);
        CheckConvertsToFloat(info);
        var values = new float[CheckedArrayLength(info, info.ElementCount, "elements")];
        ReadFloats(name, values);
        return values;
    }

    /// <summary>A tensor's elements as float, into <paramref name="destination"/> (see <see cref="ReadFloats(string)"/>).</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="destination">Exactly <see cref="SafeTensorInfo.ElementCount"/> floats.</param>
    /// <exception cref="KeyNotFoundException">The file holds no tensor of that name.</exception>
    /// <exception cref="NotSupportedException">The tensor is not F32, F16, BF16 or F64.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has another length.</exception>
    public void ReadFloats(string name, Span<float> destination)
    {
        SafeTensorInfo info = GetInfo(name);
        CheckConvertsToFloat(info);
        CheckDestination(info, destination.Length, info.ElementCount, "floats");
        if (info.DType == SafeTensorsDType.Float32)
        {
            ReadData(info, MemoryMarshal.AsBytes(destination), 0);
            if (!BitConverter.IsLittleEndian)
            {
                Span<uint> bits = MemoryMarshal.Cast<float, uint>(destination);
                BinaryPrimitives.ReverseEndianness(bits, bits);
            }
            return;
        }
        int size = info.DType.ElementSize();
        var scratch = new byte[Math.Min(destination.Length, ConversionChunk) * size];
        for (int start = 0; start < destination.Length; start += ConversionChunk)
        {
            Span<float> values = destination.Slice(start, Math.Min(ConversionChunk, destination.Length - start));
            Span<byte> stored = scratch.AsSpan(0, values.Length * size);
            ReadData(info, stored, (long)start * size);
            for (int i = 0; i < values.Length; i++)
            {
                ReadOnlySpan<byte> element = stored.Slice(i * size, size);
                values[i] = info.DType switch
                {
                    SafeTensorsDType.Float16 => (float)BinaryPrimitives.ReadHalfLittleEndian(element),
                    SafeTensorsDType.BFloat16 => (float)BFloat16.FromRawValue(BinaryPrimitives.ReadUInt16LittleEndian(element)),
                    _ => (float)BinaryPrimitives.ReadDoubleLittleEndian(element),
                };
            }
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file.Dispose();

    private void ReadData(SafeTensorInfo info, Span<byte> destination, long offsetInTensor)
    {
        ObjectDisposedException.ThrowIf(_file.IsClosed, this);
        ReadExactly(FilePath, _file, destination, _dataStart + info.DataBegin + offsetInTensor, info.Name);
    }

    private static void ReadExactly(string path, SafeFileHandle file, Span<byte> destination, long fileOffset, string? tensorName)
    {
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(file, destination, fileOffset);
            if (read == 0)
            {
                string what = tensorName is null ? "the header" : $"tensor \"{tensorName}\"";
                throw new IOException($"{path} ended at byte {fileOffset} while reading {what}: it was changed after it was opened.");
            }
            destination = destination[read..];
            fileOffset += read;
        }
    }

    private void CheckConvertsToFloat(SafeTensorInfo info)
    {
        if (!info.DType.ConvertsToFloat())
        {
            throw new NotSupportedException(
                $"{FilePath}: tensor \"{info.Name}\" is {info.DType.FormatName()}; ReadFloats converts F32, F16, BF16 and F64, ReadBytes reads any type.");
        }
    }

    private static void CheckDestination(SafeTensorInfo info, int length, long needed, string unit)
    {
        if (length != needed)
        {
            throw new ArgumentException($"Tensor \"{info.Name}\" {SafeTensorInfo.FormatShape(info.Shape)} is {needed} {unit}; the destination holds {length}.", "destination");
        }
    }

    private int CheckedArrayLength(SafeTensorInfo info, long length, string unit) => length <= Array.MaxLength
        ? (int)length
        : throw new NotSupportedException($"{FilePath}: tensor \"{info.Name}\" ({length} {unit}) is larger than one .NET array can hold.");

    /// <summary>Orders UTF-8 byte strings as the reference orders names (Rust's <c>str</c> ordering).</summary>
    private sealed class Utf8Order : IComparer<byte[]>
    {
        public static readonly Utf8Order Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
