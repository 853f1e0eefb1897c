namespace Proteus.Tests.Weights;

/// <summary>What <see cref="SafeTensorsFile.Write"/> writes, <see cref="SafeTensorsFile.Open"/> reads back: every dtype, every shape.</summary>
[TestFixture]
public sealed class SafeTensorsRoundTripTests
{
    private SafeTensorsFiles _files = null!;

    [OneTimeSetUp]
    public void CreateFolder() => _files = new SafeTensorsFiles();

    [OneTimeTearDown]
    public void DeleteFolder() => _files.Dispose();

    private static IEnumerable<long[]> Shapes() =>
    [
        [],            // a scalar: one element
        [1],
        [7],
        [3, 5],
        [2, 3, 4],
        [0],           // zero-size dims: no bytes
        [4, 0, 3],
        [2, 1, 1, 3],
    ];

    [Test]
    public void EveryDTypeAndShapeRoundTripsByteForByte(
        [Values] SafeTensorsDType dtype,
        [ValueSource(nameof(Shapes))] long[] shape)
    {
        long elements = shape.Aggregate(1L, (product, dim) => product * dim);
        byte[] data = Enumerable.Range(0, (int)elements * dtype.ElementSize()).Select(i => (byte)(i * 37 + 11)).ToArray();
        string path = _files.NewPath();

        SafeTensorsFile.Write(path, [new SafeTensorData("t", dtype, shape, data)]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        SafeTensorInfo info = file.GetInfo("t");
        Assert.Multiple(() =>
        {
            Assert.That(file.Tensors, Has.Count.EqualTo(1));
            Assert.That(info.DType, Is.EqualTo(dtype));
            Assert.That(info.Shape, Is.EqualTo(shape));
            Assert.That(info.ElementCount, Is.EqualTo(elements));
            Assert.That(file.ReadBytes("t"), Is.EqualTo(data));
            Assert.That((new FileInfo(path).Length - 8 - data.Length) % 8, Is.Zero, "the header is padded to 8 bytes");
        });
    }

    [TestCase(SafeTensorsDType.Float32)]
    [TestCase(SafeTensorsDType.Float16)]
    [TestCase(SafeTensorsDType.BFloat16)]
    [TestCase(SafeTensorsDType.Float64)]
    public void FloatsRoundTripThroughEveryFloatDType(SafeTensorsDType dtype)
    {
        // Exact in each of the four types: small integers and halves, signed zero, infinities.
        float[] values = [0f, -0f, 1f, -2.5f, 0.5f, 96f, -1024f, float.PositiveInfinity, float.NegativeInfinity];
        string path = _files.NewPath();

        SafeTensorsFile.Write(path, [SafeTensorData.FromFloats("x", [3, 3], values, dtype)]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        Assert.That(file.GetInfo("x").DType, Is.EqualTo(dtype));
        float[] read = file.ReadFloats("x");
        Assert.That(read.Select(BitConverter.SingleToUInt32Bits), Is.EqualTo(values.Select(BitConverter.SingleToUInt32Bits)), "bit for bit, -0 included");
    }

    [Test]
    public void NarrowFloatsRoundToNearestEvenAndWidenExactly()
    {
        float[] values = [1f / 3f, (float)Math.PI, 1e-3f, 65519f, 70000f, 1e-8f];
        string path = _files.NewPath();

        SafeTensorsFile.Write(path,
        [
            SafeTensorData.FromFloats("f16", [6], values, SafeTensorsDType.Float16),
            SafeTensorData.FromFloats("bf16", [6], values, SafeTensorsDType.BFloat16),
            SafeTensorData.FromFloats("f64", [6], values, SafeTensorsDType.Float64),
        ]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        Assert.Multiple(() =>
        {
            Assert.That(file.ReadFloats("f16"), Is.EqualTo(values.Select(v => (float)(Half)v)));
            Assert.That(file.ReadFloats("bf16"), Is.EqualTo(values.Select(v => (float)(BFloat16)v)));
            Assert.That(file.ReadFloats("f64"), Is.EqualTo(values));
        });
    }

    [Test]
    public void ReadFloatsConvertsAcrossChunks()
    {
        // More elements than one conversion chunk (65536), so chunk boundaries are crossed; integers in [-256, 256) are exact in BF16.
        float[] values = Enumerable.Range(0, 150_001).Select(i => (float)(i % 512 - 256)).ToArray();
        string path = _files.NewPath();

        SafeTensorsFile.Write(path, [SafeTensorData.FromFloats("big", [values.Length], values, SafeTensorsDType.BFloat16)]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        Assert.That(file.ReadFloats("big"), Is.EqualTo(values));
    }

    [Test]
    public void IntegersRoundTripAsElements()
    {
        long[] longs = [long.MinValue, -1, 0, 1, long.MaxValue, 42];
        int[] ints = [int.MinValue, -7, 0, 7, int.MaxValue, 5];
        string path = _files.NewPath();

        SafeTensorsFile.Write(path,
        [
            SafeTensorData.FromElements<long>("i64", SafeTensorsDType.Int64, [2, 3], longs),
            SafeTensorData.FromElements<int>("i32", SafeTensorsDType.Int32, [6], ints),
        ]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        Assert.Multiple(() =>
        {
            Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(file.ReadBytes("i64")).ToArray(), Is.EqualTo(longs));
            Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(file.ReadBytes("i32")).ToArray(), Is.EqualTo(ints));
        });
    }

    [Test]
    public void ManyTensorsAndMetadataRoundTrip()
    {
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quotes \" and \\ and \n and é" };
        string path = _files.NewPath();
        SafeTensorData[] tensors =
        [
            SafeTensorData.FromFloats("ln1.weight", [4], [1, 2, 3, 4]),
            SafeTensorData.FromFloats("attn.qkv.weight", [12, 4], Enumerable.Range(0, 48).Select(i => (float)i).ToArray(), SafeTensorsDType.BFloat16),
            new("mask", SafeTensorsDType.Bool, [3], new byte[] { 1, 0, 1 }),
            SafeTensorData.FromFloats("scale", [], [0.125f], SafeTensorsDType.Float64),
            SafeTensorData.FromFloats("name \"with\" quotes\t", [1], [9]),
            SafeTensorData.FromFloats("ünïcödé.名前", [1], [10], SafeTensorsDType.Float16),
        ];

        SafeTensorsFile.Write(path, tensors, metadata);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        Assert.Multiple(() =>
        {
            Assert.That(file.Metadata, Is.EquivalentTo(metadata));
            Assert.That(file.Tensors.Select(t => t.Name), Is.EqualTo(tensors.Select(t => t.Name).Order(StringComparer.Ordinal)), "listed by name");
            foreach (SafeTensorData tensor in tensors)
            {
                Assert.That(file.ReadBytes(tensor.Name), Is.EqualTo(tensor.Data.ToArray()), tensor.Name);
                Assert.That(file.GetInfo(tensor.Name).Shape, Is.EqualTo(tensor.Shape), tensor.Name);
            }
        });
    }

    [Test]
    public void WriterLaysOutByDescendingDTypeThenNameSoEveryTensorIsAligned()
    {
        string path = _files.NewPath();
        SafeTensorsFile.Write(path,
        [
            new("u8.b", SafeTensorsDType.UInt8, [3], new byte[3]),
            new("u8.a", SafeTensorsDType.UInt8, [1], new byte[1]),
            SafeTensorData.FromFloats("f16", [3], [1, 2, 3], SafeTensorsDType.Float16),
            SafeTensorData.FromFloats("f64", [1], [1], SafeTensorsDType.Float64),
            SafeTensorData.FromFloats("f32", [1], [1]),
            new("i64", SafeTensorsDType.Int64, [1], new byte[8]),
        ]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        var byOffset = file.Tensors.OrderBy(t => t.DataBegin).Select(t => t.Name);
        Assert.That(byOffset, Is.EqualTo(new[] { "i64", "f64", "f32", "f16", "u8.a", "u8.b" }));
        long headerLength = new FileInfo(path).Length - 8 - file.Tensors.Sum(t => t.ByteLength);
        Assert.That(headerLength % 8, Is.Zero, "the header is padded to 8 bytes");
        Assert.That(file.Tensors.Where(t => t.DataBegin % t.DType.ElementSize() != 0), Is.Empty, "every tensor aligned to its element size");
    }

    [Test]
    public void AnEmptySetOfTensorsIsTheReferencesEmptyFile()
    {
        string path = _files.NewPath();
        SafeTensorsFile.Write(path, []);

        // huggingface/safetensors, tensor.rs test_empty: "{}" padded to 8 bytes.
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}', 32, 32, 32, 32, 32, 32 }));
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        Assert.That(file.Tensors, Is.Empty);
        Assert.That(file.Metadata, Is.Empty);
    }

    [Test]
    public void WriterRejectsWhatItCannotWrite()
    {
        string path = _files.NewPath();
        Assert.Multiple(() =>
        {
            Assert.That(() => SafeTensorsFile.Write(path, [SafeTensorData.FromFloats("a", [1], [1]), SafeTensorData.FromFloats("a", [1], [2])]),
                Throws.ArgumentException.With.Message.Contains("\"a\""));
            Assert.That(() => new SafeTensorData("x", SafeTensorsDType.Float32, [2, 2], new byte[12]),
                Throws.ArgumentException.With.Message.Contains("12 bytes").And.Message.Contains("[2, 2]").And.Message.Contains("needs 16"));
            Assert.That(() => new SafeTensorData("x", SafeTensorsDType.Float32, [2, -1], new byte[0]),
                Throws.ArgumentException.With.Message.Contains("negative"));
            Assert.That(() => new SafeTensorData("__metadata__", SafeTensorsDType.UInt8, [], new byte[1]),
                Throws.ArgumentException);
            Assert.That(() => SafeTensorData.FromFloats("x", [1], [1], SafeTensorsDType.Int32),
                Throws.ArgumentException.With.Message.Contains("I32"));
            Assert.That(() => SafeTensorData.FromElements<int>("x", SafeTensorsDType.Int64, [1], [1]),
                Throws.ArgumentException.With.Message.Contains("I64"));
        });
        Assert.That(File.Exists(path), Is.False, "nothing is written when the tensors are rejected");
    }

    [Test]
    public void ReadingAsksForWhatTheFileHolds()
    {
        string path = _files.NewPath();
        SafeTensorsFile.Write(path, [SafeTensorData.FromFloats("w", [2, 2], [1, 2, 3, 4]), new("ids", SafeTensorsDType.Int32, [1], new byte[4])]);
        var file = SafeTensorsFile.Open(path);

        Assert.Multiple(() =>
        {
            Assert.That(file.Contains("w"), Is.True);
            Assert.That(file.Contains("v"), Is.False);
            Assert.That(() => file.ReadFloats("v"), Throws.TypeOf<KeyNotFoundException>().With.Message.Contains("\"v\"").And.Message.Contains(path));
            Assert.That(() => file.ReadFloats("ids"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("\"ids\"").And.Message.Contains("I32"));
            Assert.That(() => file.ReadFloats("w", new float[3]), Throws.ArgumentException.With.Message.Contains("is 4 floats"));
            Assert.That(() => file.ReadBytes("w", new byte[17]), Throws.ArgumentException.With.Message.Contains("is 16 bytes"));
        });
        file.Dispose();
        Assert.That(() => file.ReadBytes("w"), Throws.TypeOf<ObjectDisposedException>());
    }
}
