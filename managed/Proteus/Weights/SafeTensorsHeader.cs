using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Proteus;

/// <summary>
/// The JSON header of a safetensors file: parsed and checked against the data it describes, or written for a set of
/// tensors. The checks are the reference implementation's (huggingface/safetensors, <c>Metadata::validate</c>), each
/// failing with a message of its own: the tensors' data must tile the data section exactly, with no gap, no overlap
/// and nothing after the last tensor.
/// </summary>
internal static class SafeTensorsHeader
{
    /// <summary>The header's entry of string metadata, which is not a tensor.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>The reference implementation refuses larger headers; so does this one, before reading a byte of it.</summary>
    public const long MaxLength = 100_000_000;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The product of the dimensions; null when one is negative or the product overflows.</summary>
    public static long? ElementCount(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long dim in shape)
        {
            if (dim < 0 || (dim > 0 && count > long.MaxValue / dim))
            {
                return null;
            }
            count *= dim;
        }
        return count;
    }

    /// <summary>Parses and checks a header whose data section is <paramref name="dataLength"/> bytes long.</summary>
    /// <returns>The tensors, by name (ordinal), and the metadata (empty when there is none).</returns>
    /// <exception cref="SafeTensorsFormatException">Anything is wrong; the message names the file and the tensor.</exception>
    public static (SafeTensorInfo[] Tensors, Dictionary<string, string> Metadata) Parse(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(header);
        }
        catch (DecoderFallbackException e)
        {
            throw new SafeTensorsFormatException(path, null, "the header is not valid UTF-8", e);
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(path, null, $"the header is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new SafeTensorsFormatException(path, null, $"the header is a JSON {Describe(root.ValueKind)}, not an object");
            }
            var tensors = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in root.EnumerateObject())
            {
                if (!seen.Add(entry.Name))
                {
                    throw new SafeTensorsFormatException(path, entry.Name, "the header names it more than once");
                }
                if (entry.Name == MetadataKey)
                {
                    ParseMetadata(path, entry.Value, metadata);
                }
                else
                {
                    tensors.Add(ParseTensor(path, entry.Name, entry.Value, dataLength));
                }
            }
            CheckLayout(path, tensors, dataLength);
            tensors.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return (tensors.ToArray(), metadata);
        }
    }

    /// <summary>
    /// The header for <paramref name="tensors"/>, laid out in the order given, as the reference writer prints it
    /// (compact JSON, <c>__metadata__</c> first) and padded with spaces to a multiple of 8 bytes.
    /// </summary>
    public static byte[] Write(IReadOnlyList<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder("{");
        if (metadata is { Count: > 0 })
        {
            AppendString(json, MetadataKey).Append(":{");
            bool first = true;
            foreach (var (key, value) in metadata.OrderBy(pair => pair.Key, StringComparer.Ordinal))
            {
                AppendString(json.Append(first ? "" : ","), key).Append(':');
                AppendString(json, value);
                first = false;
            }
            json.Append('}');
            if (tensors.Count > 0)
            {
                json.Append(',');
            }
        }
        long offset = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            SafeTensorData tensor = tensors[i];
            long end = offset + tensor.Data.Length;
            AppendString(json.Append(i == 0 ? "" : ","), tensor.Name)
                .Append(":{\"dtype\":\"").Append(tensor.DType.FormatName())
                .Append("\",\"shape\":[").AppendJoin(',', tensor.Shape.Select(dim => dim.ToString(CultureInfo.InvariantCulture)))
                .Append("],\"data_offsets\":[").Append(offset.ToString(CultureInfo.InvariantCulture))
                .Append(',').Append(end.ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset = end;
        }
        json.Append('}');
        byte[] unpadded = StrictUtf8.GetBytes(json.ToString());
        byte[] header = new byte[(unpadded.Length + 7) / 8 * 8];
        unpadded.CopyTo(header, 0);
        header.AsSpan(unpadded.Length).Fill((byte)' ');
        return header;
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;  // the reference reads a null __metadata__ as none
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafeTensorsFormatException(path, null, $"\"{MetadataKey}\" is a JSON {Describe(value.ValueKind)}, not an object of strings");
        }
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw new SafeTensorsFormatException(path, null, $"\"{MetadataKey}\" entry \"{item.Name}\" is a JSON {Describe(item.Value.ValueKind)}, not a string");
            }
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
            {
                throw new SafeTensorsFormatException(path, null, $"\"{MetadataKey}\" names \"{item.Name}\" more than once");
            }
        }
    }

    private static SafeTensorInfo ParseTensor(string path, string name, JsonElement entry, long dataLength)
    {
        SafeTensorsFormatException Bad(string problem) => new(path, name, problem);

        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw Bad($"its entry is a JSON {Describe(entry.ValueKind)}, not an object with dtype, shape and data_offsets");
        }
        JsonElement? dtypeValue = null, shapeValue = null, offsetsValue = null;
        foreach (JsonProperty field in entry.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype":
                    dtypeValue = Once(dtypeValue, field);
                    break;
                case "shape":
                    shapeValue = Once(shapeValue, field);
                    break;
                case "data_offsets":
                    offsetsValue = Once(offsetsValue, field);
                    break;
                default:
                    break;  // the reference ignores fields it does not know
            }
        }
        JsonElement Once(JsonElement? current, JsonProperty field) =>
            current is null ? field.Value : throw Bad($"its entry has \"{field.Name}\" more than once");

        if (dtypeValue is not { ValueKind: JsonValueKind.String } dtypeText)
        {
            throw Bad(dtypeValue is null ? "no \"dtype\"" : $"\"dtype\" is {dtypeValue.Value.GetRawText()}, not a string");
        }
        if (!SafeTensorsDTypes.TryParse(dtypeText.GetString()!, out SafeTensorsDType dtype, out string dtypeProblem))
        {
            throw Bad(dtypeProblem);
        }

        long[] shape = Integers(shapeValue, "shape", Bad);
        long negative = Array.Find(shape, dim => dim < 0);
        if (negative < 0)
        {
            throw Bad($"shape {SafeTensorInfo.FormatShape(shape)} has a negative dimension ({negative})");
        }

        long[] offsets = Integers(offsetsValue, "data_offsets", Bad);
        if (offsets.Length != 2)
        {
            throw Bad($"\"data_offsets\" {SafeTensorInfo.FormatShape(offsets)} is not a pair [begin, end]");
        }
        (long begin, long end) = (offsets[0], offsets[1]);
        string range = SafeTensorInfo.FormatShape(offsets);
        if (begin < 0 || end < begin)
        {
            throw Bad($"data_offsets {range} is not a range: it needs 0 ≤ begin ≤ end");
        }
        if (end > dataLength)
        {
            throw Bad($"data_offsets {range} run past the end of the file: the data after the header is {dataLength} bytes");
        }
        long? elements = ElementCount(shape);
        if (elements is null || elements > long.MaxValue / dtype.ElementSize())
        {
            throw Bad($"shape {SafeTensorInfo.FormatShape(shape)} of {dtype.FormatName()} is larger than any file");
        }
        long needed = elements.Value * dtype.ElementSize();
        if (end - begin != needed)
        {
            throw Bad($"data_offsets {range} hold {end - begin} bytes, but shape {SafeTensorInfo.FormatShape(shape)} of {dtype.FormatName()} needs {needed}");
        }
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>A JSON array of integers (shape, data_offsets), or the reason it is not one.</summary>
    private static long[] Integers(JsonElement? value, string field, Func<string, SafeTensorsFormatException> bad)
    {
        if (value is null)
        {
            throw bad($"no \"{field}\"");
        }
        if (value.Value.ValueKind != JsonValueKind.Array)
        {
            throw bad($"\"{field}\" is {value.Value.GetRawText()}, not an array of integers");
        }
        var integers = new long[value.Value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in value.Value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out integers[i++]))
            {
                throw bad($"\"{field}\" {value.Value.GetRawText()} holds {item.GetRawText()}, which is not a 64-bit integer");
            }
        }
        return integers;
    }

    /// <summary>The tensors' data must cover [0, dataLength) exactly once, in any order in the header.</summary>
    private static void CheckLayout(string path, List<SafeTensorInfo> tensors, long dataLength)
    {
        var byOffset = tensors.OrderBy(tensor => tensor.DataBegin).ThenBy(tensor => tensor.DataEnd).ToList();
        long covered = 0;
        SafeTensorInfo? previous = null;
        foreach (SafeTensorInfo tensor in byOffset)
        {
            if (tensor.DataBegin < covered)
            {
                throw new SafeTensorsFormatException(path, tensor.Name,
                    $"data_offsets [{tensor.DataBegin}, {tensor.DataEnd}] overlap those of \"{previous!.Name}\" [{previous.DataBegin}, {previous.DataEnd}]");
            }
            if (tensor.DataBegin > covered)
            {
                string before = previous is null ? "the start of the data" : $"the end of \"{previous.Name}\"";
                throw new SafeTensorsFormatException(path, tensor.Name,
                    $"data_offsets [{tensor.DataBegin}, {tensor.DataEnd}] leave a gap: bytes [{covered}, {tensor.DataBegin}) after {before} belong to no tensor");
            }
            covered = tensor.DataEnd;
            previous = tensor;
        }
        if (covered != dataLength)
        {
            throw new SafeTensorsFormatException(path, null,
                $"the data after the header is {dataLength} bytes, but the tensors cover only the first {covered}");
        }
    }

    /// <summary>A JSON string as serde_json writes it: quotes, backslashes and control characters escaped, the rest as is.</summary>
    private static StringBuilder AppendString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (char c in value)
        {
            _ = c switch
            {
                '"' => json.Append("\\\""),
                '\\' => json.Append("\\\\"),
                '\b' => json.Append("\\b"),
                '\f' => json.Append("\\f"),
                '\n' => json.Append("\\n"),
                '\r' => json.Append("\\r"),
                '\t' => json.Append("\\t"),
                < ' ' => json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)),
                _ => json.Append(c),
            };
        }
        return json.Append('"');
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };
}
