using System.Buffers.Binary;

namespace Proteus.Tests.Weights;

/// <summary>Every way a safetensors file can be malformed fails at Open with a message naming the file, the tensor and the fault.</summary>
[TestFixture]
public sealed class SafeTensorsMalformedTests
{
    private SafeTensorsFiles _files = null!;

    [OneTimeSetUp]
    public void CreateFolder() => _files = new SafeTensorsFiles();

    [OneTimeTearDown]
    public void DeleteFolder() => _files.Dispose();

    private static string Entry(string dtype, string shape, string offsets) =>
        $$"""{"dtype":"{{dtype}}","shape":{{shape}},"data_offsets":{{offsets}}}""";

    /// <summary>A header, the bytes of data after it, the tensor at fault (null: the file's), and what the message must say.</summary>
    private static IEnumerable<TestCaseData> MalformedHeaders()
    {
        TestCaseData Case(string name, string header, int dataBytes, string? tensor, string says) =>
            new TestCaseData(header, dataBytes, tensor, says).SetName($"{{m}}({name})");

        yield return Case("not JSON", """{"a":{"dtype":"F32",""", 0, null, "not valid JSON");
        yield return Case("trailing comma", """{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},}""", 4, null, "not valid JSON");
        yield return Case("empty header", "", 0, null, "not valid JSON");
        yield return Case("an array", "[1, 2]", 0, null, "the header is a JSON array, not an object");
        yield return Case("duplicate tensor", $$"""{"a":{{Entry("F32", "[1]", "[0,4]")}},"a":{{Entry("F32", "[1]", "[4,8]")}}}""", 8, "a", "names it more than once");
        yield return Case("entry not an object", """{"a":5}""", 0, "a", "its entry is a JSON number");
        yield return Case("unknown dtype", $$"""{"a":{{Entry("F33", "[1]", "[0,4]")}}}""", 4, "a", "unknown dtype \"F33\"");
        yield return Case("lower-case dtype", $$"""{"a":{{Entry("f32", "[1]", "[0,4]")}}}""", 4, "a", "unknown dtype \"f32\"");
        yield return Case("sub-byte dtype", $$"""{"a":{{Entry("F4", "[2]", "[0,1]")}}}""", 1, "a", "dtype \"F4\" is a sub-byte type");
        yield return Case("dtype a number", """{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}""", 4, "a", "\"dtype\" is 32, not a string");
        yield return Case("no dtype", """{"a":{"shape":[1],"data_offsets":[0,4]}}""", 4, "a", "no \"dtype\"");
        yield return Case("no shape", """{"a":{"dtype":"F32","data_offsets":[0,4]}}""", 4, "a", "no \"shape\"");
        yield return Case("no offsets", """{"a":{"dtype":"F32","shape":[1]}}""", 4, "a", "no \"data_offsets\"");
        yield return Case("field twice", """{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}""", 4, "a", "\"dtype\" more than once");
        yield return Case("negative dim", $$"""{"a":{{Entry("F32", "[2,-1]", "[0,0]")}}}""", 0, "a", "shape [2, -1] has a negative dimension (-1)");
        yield return Case("fractional dim", $$"""{"a":{{Entry("F32", "[2.5]", "[0,10]")}}}""", 10, "a", "holds 2.5, which is not a 64-bit integer");
        yield return Case("shape not an array", $$"""{"a":{{Entry("F32", "4", "[0,16]")}}}""", 16, "a", "\"shape\" is 4, not an array");
        yield return Case("shape overflows", $$"""{"a":{{Entry("F32", "[4294967296,4294967296,4]", "[0,0]")}}}""", 0, "a", "is larger than any file");
        yield return Case("offsets not a pair", $$"""{"a":{{Entry("F32", "[1]", "[0]")}}}""", 4, "a", "\"data_offsets\" [0] is not a pair");
        yield return Case("offsets reversed", $$"""{"a":{{Entry("F32", "[1]", "[8,4]")}}}""", 8, "a", "data_offsets [8, 4] is not a range");
        yield return Case("offsets negative", $$"""{"a":{{Entry("F32", "[1]", "[-4,0]")}}}""", 8, "a", "data_offsets [-4, 0] is not a range");
        yield return Case("offsets past the end", $$"""{"a":{{Entry("F32", "[100]", "[0,400]")}}}""", 16, "a", "data_offsets [0, 400] run past the end of the file: the data after the header is 16 bytes");
        yield return Case("size not shape x dtype", $$"""{"a":{{Entry("F32", "[2,2]", "[0,12]")}}}""", 12, "a", "data_offsets [0, 12] hold 12 bytes, but shape [2, 2] of F32 needs 16");
        yield return Case("scalar with no bytes", $$"""{"a":{{Entry("F64", "[]", "[0,0]")}}}""", 0, "a", "hold 0 bytes, but shape [] of F64 needs 8");
        yield return Case("overlap", $$"""{"a":{{Entry("F32", "[2]", "[0,8]")}},"b":{{Entry("F32", "[2]", "[4,12]")}}}""", 12, "b", "data_offsets [4, 12] overlap those of \"a\" [0, 8]");
        yield return Case("gap", $$"""{"a":{{Entry("F32", "[1]", "[0,4]")}},"b":{{Entry("F32", "[1]", "[8,12]")}}}""", 12, "b", "bytes [4, 8) after the end of \"a\" belong to no tensor");
        yield return Case("gap at the start", $$"""{"a":{{Entry("F32", "[1]", "[4,8]")}}}""", 8, "a", "bytes [0, 4) after the start of the data belong to no tensor");
        yield return Case("bytes after the last tensor", $$"""{"a":{{Entry("F32", "[1]", "[0,4]")}}}""", 8, null, "the data after the header is 8 bytes, but the tensors cover only the first 4");
        yield return Case("metadata not an object", """{"__metadata__":[1]}""", 0, null, "\"__metadata__\" is a JSON array");
        yield return Case("metadata not strings", """{"__metadata__":{"epoch":3}}""", 0, null, "\"__metadata__\" entry \"epoch\" is a JSON number, not a string");
    }

    [TestCaseSource(nameof(MalformedHeaders))]
    public void MalformedHeaderFailsNamingFileTensorAndFault(string header, int dataBytes, string? tensor, string says)
    {
        string path = _files.WithHeader(header, new byte[dataBytes]);

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose())!;

        Assert.Multiple(() =>
        {
            Assert.That(error.FilePath, Is.EqualTo(path));
            Assert.That(error.TensorName, Is.EqualTo(tensor));
            Assert.That(error.Message, Does.StartWith($"{path}: not a valid safetensors file: "));
            Assert.That(error.Message, Does.Contain(says));
            if (tensor is not null)
            {
                Assert.That(error.Message, Does.Contain($"tensor \"{tensor}\": "));
            }
        });
    }

    [Test]
    public void FileShorterThanTheLengthPrefixFails() =>
        AssertFails(_files.WithBytes([1, 2, 3]), "the file is 3 bytes, too short for the 8-byte header length");

    [Test]
    public void HeaderLengthLargerThanTheFileFails() =>
        AssertFails(_files.WithHeader("{}", [], declaredLength: 1000), "the header length 1000 is larger than the file (10 bytes, 2 after the length)");

    [Test]
    public void HeaderLengthNearTwoToThe64Fails() =>
        AssertFails(_files.WithHeader("{}", [], declaredLength: ulong.MaxValue), $"the header length {ulong.MaxValue} is larger than the file");

    [Test]
    public void HeaderLongerThanTheFormatsLimitFails()
    {
        // A sparse file: 200 MB long, nearly no disk.
        string path = _files.NewPath();
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, 150_000_000);
            stream.Write(prefix);
            stream.SetLength(200_000_000);
        }
        AssertFails(path, "the header length 150000000 is over the format's limit of 100000000 bytes");
    }

    [Test]
    public void HeaderThatIsNotUtf8Fails()
    {
        byte[] bytes = SafeTensorsFiles.Assemble("{\"a\u00e9\":1}", []);
        bytes[11] = 0xFF;  // the first byte of é
        AssertFails(_files.WithBytes(bytes), "the header is not valid UTF-8");
    }

    private static void AssertFails(string path, string says)
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose())!;
        Assert.That(error.Message, Does.StartWith($"{path}: not a valid safetensors file: {says}"));
        Assert.That(error.TensorName, Is.Null);
    }
}
