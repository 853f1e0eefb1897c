namespace Proteus.Tests.Weights;

/// <summary>
/// A weights file checked against the tensors a layer expects: the names of the original Python attention block at
/// d_model C and G head groups, every missing, unexpected and mis-shaped tensor reported at once.
/// </summary>
[TestFixture]
public sealed class WeightManifestTests
{
    private const long C = 16;
    private const long G = 4;

    private SafeTensorsFiles _files = null!;

    [OneTimeSetUp]
    public void CreateFolder() => _files = new SafeTensorsFiles();

    [OneTimeTearDown]
    public void DeleteFolder() => _files.Dispose();

    private static WeightManifest Block() => new(
    [
        ExpectedWeight.Required("ln1.weight", C),
        ExpectedWeight.Optional("ln1.bias", C),
        ExpectedWeight.Required("attn.qkv.weight", 3 * C, C),
        ExpectedWeight.Optional("attn.qkv.bias", 3 * C),
        ExpectedWeight.Required("attn.proj.weight", C, C),
        ExpectedWeight.Optional("attn.proj.bias", C),
        ExpectedWeight.Required("attn.head_router.linear.weight", G, C),
        ExpectedWeight.Required("attn.routing_prototypes", G, C),
        ExpectedWeight.Required("attn.routing_usage_ema", G),
        ExpectedWeight.Required("attn.routing_confidence", G),
        ExpectedWeight.Required("ln2.weight", C),
        ExpectedWeight.Optional("ln2.bias", C),
        ExpectedWeight.Required("mlp.fc1.weight", 4 * C, C),
        ExpectedWeight.Optional("mlp.fc1.bias", 4 * C),
        ExpectedWeight.Required("mlp.fc2.weight", C, 4 * C),
        ExpectedWeight.Optional("mlp.fc2.bias", C),
    ]);

    private string FileOf(IEnumerable<(string Name, long[] Shape)> tensors)
    {
        string path = _files.NewPath("block");
        SafeTensorsFile.Write(path, tensors.Select(t =>
            new SafeTensorData(t.Name, SafeTensorsDType.BFloat16, t.Shape, new byte[2 * t.Shape.Aggregate(1L, (p, d) => p * d)])));
        return path;
    }

    private static IEnumerable<(string Name, long[] Shape)> Required() =>
        Block().Weights.Where(w => !w.IsOptional).Select(w => (w.Name, w.Shape.ToArray()));

    [Test]
    public void TheRequiredTensorsPass()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(FileOf(Required()));
        Assert.DoesNotThrow(() => Block().Verify(file));
    }

    [Test]
    public void OptionalTensorsMayBePresent()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(FileOf(Required().Append(("attn.qkv.bias", [3 * C])).Append(("ln1.bias", [C]))));
        Assert.DoesNotThrow(() => Block().Verify(file));
    }

    [Test]
    public void EveryMissingUnexpectedAndMisshapedTensorIsReportedAtOnce()
    {
        var tensors = Required()
            .Where(t => t.Name is not "attn.proj.weight" and not "ln2.weight")                      // missing
            .Select(t => t.Name == "attn.qkv.weight" ? (t.Name, new[] { C, 3 * C }) : t)           // transposed
            .Select(t => t.Name == "attn.routing_usage_ema" ? (t.Name, new[] { G, 1L }) : t)        // an extra dim
            .Append(("attn.qkv.bias", [3 * C + 1]))                                                  // optional, mis-shaped
            .Append(("attn.rotary.inv_freq", [C / 2]))                                               // unexpected
            .Append(("head.weight", [C]));                                                           // unexpected
        string path = FileOf(tensors);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        var error = Assert.Throws<WeightMismatchException>(() => Block().Verify(file))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.FilePath, Is.EqualTo(path));
            Assert.That(error.Missing, Is.EqualTo(new[] { "attn.proj.weight", "ln2.weight" }));
            Assert.That(error.Unexpected, Is.EqualTo(new[] { "attn.rotary.inv_freq", "head.weight" }));
            Assert.That(error.Misshaped, Is.EqualTo(new[] { "attn.qkv.weight", "attn.qkv.bias", "attn.routing_usage_ema" }));
            Assert.That(error.Message, Is.EqualTo(
                $"{path} does not hold the expected weights (2 missing, 2 unexpected, 3 mis-shaped):\n" +
                "  mis-shaped  attn.qkv.weight: expected [48, 16], found [16, 48]\n" +
                "  mis-shaped  attn.qkv.bias: expected [48], found [49]\n" +
                "  missing     attn.proj.weight: expected [16, 16]\n" +
                "  mis-shaped  attn.routing_usage_ema: expected [4], found [4, 1]\n" +
                "  missing     ln2.weight: expected [16]\n" +
                "  unexpected  attn.rotary.inv_freq [8]\n" +
                "  unexpected  head.weight [16]"));
        });
    }

    [Test]
    public void AScalarIsNotAOneElementVector()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(FileOf([("temperature", [])]));
        var error = Assert.Throws<WeightMismatchException>(() => new WeightManifest([ExpectedWeight.Required("temperature", 1)]).Verify(file))!;
        Assert.That(error.Message, Does.Contain("temperature: expected [1], found []"));
    }

    [Test]
    public void AManifestNamesEachTensorOnce() =>
        Assert.That(() => new WeightManifest([ExpectedWeight.Required("w", 1), ExpectedWeight.Optional("w", 1)]),
            Throws.ArgumentException.With.Message.Contains("\"w\""));
}
