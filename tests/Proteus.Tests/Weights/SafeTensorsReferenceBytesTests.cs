namespace Proteus.Tests.Weights;

/// <summary>
/// Files spelled out byte by byte as the reference writer (huggingface/safetensors, which Python's
/// <c>safetensors.torch.save_file</c> calls) lays them out: read here, and written here identically.
/// </summary>
[TestFixture]
public sealed class SafeTensorsReferenceBytesTests
{
    private SafeTensorsFiles _files = null!;

    [OneTimeSetUp]
    public void CreateFolder() => _files = new SafeTensorsFiles();

    [OneTimeTearDown]
    public void DeleteFolder() => _files.Dispose();

    [Test]
    public void TheReferencesOwnSerializationTestIsReadAndWrittenIdentically()
    {
        // huggingface/safetensors tensor.rs, test_serialization_forced_alignement: a 65-byte header, 7 spaces of padding.
        const string json = """{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}""";
        byte[] data = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];  // 0, 1, 2, 3, 4, 5
        byte[] expected = SafeTensorsFiles.Assemble(json + "       ", data);
        Assert.That(expected[0], Is.EqualTo(72), "the length prefix the reference test spells out");

        string written = _files.NewPath();
        SafeTensorsFile.Write(written, [SafeTensorData.FromFloats("attn0", [1, 1, 2, 3], [0, 1, 2, 3, 4, 5])]);
        Assert.That(File.ReadAllBytes(written), Is.EqualTo(expected));

        using SafeTensorsFile file = SafeTensorsFile.Open(_files.WithBytes(expected));
        Assert.That(file.GetInfo("attn0").Shape, Is.EqualTo(new long[] { 1, 1, 2, 3 }));
        Assert.That(file.ReadFloats("attn0"), Is.EqualTo(new float[] { 0, 1, 2, 3, 4, 5 }));
    }

    [Test]
    public void AMixedFileIsReadAndWrittenIdentically()
    {
        // The reference orders the data by descending dtype (I64, F32, F16, BOOL), then by name, and puts __metadata__ first.
        const string json =
            """{"__metadata__":{"format":"pt"}""" +
            ""","step":{"dtype":"I64","shape":[],"data_offsets":[0,8]}""" +
            ""","weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}""" +
            ""","bias":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}""" +
            ""","mask":{"dtype":"BOOL","shape":[3],"data_offsets":[28,31]}}""";
        Assert.That(json.Length % 8, Is.EqualTo(1), "so the header takes 7 spaces of padding");
        byte[] data =
        [
            7, 0, 0, 0, 0, 0, 0, 0,                                   // step = 7
            0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0, 0, 0, 0, 0x3F, 0, 0, 0x40, 0x40,  // weight = [[1, -2], [0.5, 3]]
            0x00, 0x3C, 0x00, 0xB8,                                   // bias = [1, -0.5] as binary16
            1, 0, 1,                                                  // mask
        ];
        byte[] expected = SafeTensorsFiles.Assemble(json + "       ", data);

        using (SafeTensorsFile file = SafeTensorsFile.Open(_files.WithBytes(expected)))
        {
            Assert.Multiple(() =>
            {
                Assert.That(file.Metadata, Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt" }));
                Assert.That(file.Tensors.Select(t => t.ToString()), Is.EqualTo(new[] { "bias F16 [2]", "mask BOOL [3]", "step I64 []", "weight F32 [2, 2]" }));
                Assert.That(file.ReadFloats("weight"), Is.EqualTo(new float[] { 1, -2, 0.5f, 3 }));
                Assert.That(file.ReadFloats("bias"), Is.EqualTo(new float[] { 1, -0.5f }));
                Assert.That(BitConverter.ToInt64(file.ReadBytes("step")), Is.EqualTo(7));
                Assert.That(file.ReadBytes("mask"), Is.EqualTo(new byte[] { 1, 0, 1 }));
            });
        }

        string written = _files.NewPath();
        SafeTensorsFile.Write(written,
        [
            SafeTensorData.FromFloats("weight", [2, 2], [1, -2, 0.5f, 3]),
            SafeTensorData.FromFloats("bias", [2], [1, -0.5f], SafeTensorsDType.Float16),
            new("mask", SafeTensorsDType.Bool, [3], new byte[] { 1, 0, 1 }),
            SafeTensorData.FromElements<long>("step", SafeTensorsDType.Int64, [], [7]),
        ], new Dictionary<string, string> { ["format"] = "pt" });
        Assert.That(File.ReadAllBytes(written), Is.EqualTo(expected));
    }

    [Test]
    public void AnyHeaderOrderWhitespaceAndPaddingIsAccepted()
    {
        // Entries out of data order, pretty-printed, not padded, an unknown field (ignored, as the reference does), a null __metadata__.
        const string json = """
            {
              "second": { "shape": [2], "data_offsets": [4, 12], "dtype": "F32" },
              "first":  { "dtype": "BF16", "shape": [2], "data_offsets": [0, 4], "extra": [1, 2] },
              "__metadata__": null
            }
            """;
        byte[] data = [0x80, 0x3F, 0x00, 0xC0, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40];  // bf16 1, -2; f32 3, 4

        using SafeTensorsFile file = SafeTensorsFile.Open(_files.WithHeader(json, data));

        Assert.That(file.ReadFloats("first"), Is.EqualTo(new float[] { 1, -2 }));
        Assert.That(file.ReadFloats("second"), Is.EqualTo(new float[] { 3, 4 }));
        Assert.That(file.Metadata, Is.Empty);
    }
}
