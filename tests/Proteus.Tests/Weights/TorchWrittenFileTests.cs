namespace Proteus.Tests.Weights;

/// <summary>
/// A file written by PyTorch's safetensors (tests/gpu/write_safetensors.py, run where torch is installed): every
/// value read here matches the same formula computed in C#, F16 and BF16 rounding included, and
/// <see cref="SafeTensorsFile.Write"/> given the same tensors writes the same bytes. Skipped, saying why, until the
/// file is there.
/// </summary>
[TestFixture]
public sealed class TorchWrittenFileTests
{
    private const string FileName = "torch_written.safetensors";

    /// <summary>The tensors write_safetensors.py writes, as dtype, shape and values.</summary>
    private static readonly Dictionary<string, (SafeTensorsDType DType, long[] Shape, float[] Values)> Expected = new()
    {
        ["f32.arange"] = (SafeTensorsDType.Float32, [2, 3, 4], Range(24, i => i * 0.5f - 3)),
        ["f16.arange"] = (SafeTensorsDType.Float16, [4, 5], Range(20, i => (i - 10) / 4f)),
        ["bf16.arange"] = (SafeTensorsDType.BFloat16, [3, 7], Range(21, i => (i - 10) * 0.25f)),
        ["f16.thirds"] = (SafeTensorsDType.Float16, [6], Range(6, i => (float)(Half)((i + 1) / 3f))),
        ["bf16.thirds"] = (SafeTensorsDType.BFloat16, [6], Range(6, i => (float)(BFloat16)((i + 1) / 3f))),
        ["f64.eighths"] = (SafeTensorsDType.Float64, [5], Range(5, i => i / 8f)),
        ["f32.scalar"] = (SafeTensorsDType.Float32, [], [2.5f]),
        ["f32.empty"] = (SafeTensorsDType.Float32, [0, 4], []),
        ["i64.arange"] = (SafeTensorsDType.Int64, [6], []),
        ["bool.mask"] = (SafeTensorsDType.Bool, [4], []),
    };

    private static float[] Range(int count, Func<int, float> value) => Enumerable.Range(0, count).Select(value).ToArray();

    private static string TorchFile()
    {
        string path = Environment.GetEnvironmentVariable("PROTEUS_TORCH_SAFETENSORS")
                      ?? Path.Combine(RepositoryRoot(), "tests", "Proteus.Tests", "Weights", FileName);
        if (!File.Exists(path))
        {
            Assert.Ignore($"no file written by PyTorch's safetensors at {path}: run `python3 tests/gpu/write_safetensors.py` " +
                          "where torch and safetensors are installed (the GPU machine) and bring its file here, or set PROTEUS_TORCH_SAFETENSORS");
        }
        return path;
    }

    [Test]
    public void EveryValueMatchesTheFormulaItWasWrittenFrom()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(TorchFile());

        Assert.That(file.Tensors.Select(t => t.Name), Is.EquivalentTo(Expected.Keys));
        Assert.That(file.Metadata, Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt" }));
        Assert.Multiple(() =>
        {
            foreach (var (name, (dtype, shape, values)) in Expected)
            {
                SafeTensorInfo info = file.GetInfo(name);
                Assert.That(info.DType, Is.EqualTo(dtype), name);
                Assert.That(info.Shape, Is.EqualTo(shape), name);
                if (dtype.ConvertsToFloat())
                {
                    Assert.That(file.ReadFloats(name), Is.EqualTo(values), name);
                }
            }
            Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(file.ReadBytes("i64.arange")).ToArray(),
                Is.EqualTo(new long[] { -3, -2, -1, 0, 1, 2 }));
            Assert.That(file.ReadBytes("bool.mask"), Is.EqualTo(new byte[] { 1, 0, 1, 1 }));
        });
    }

    [Test]
    public void WritingTheSameTensorsGivesTheSameBytes()
    {
        string torchPath = TorchFile();
        using SafeTensorsFile file = SafeTensorsFile.Open(torchPath);
        using var files = new SafeTensorsFiles();
        string ours = files.NewPath();

        SafeTensorsFile.Write(ours, file.Tensors.Select(t => new SafeTensorData(t.Name, t.DType, t.Shape.ToArray(), file.ReadBytes(t.Name))), file.Metadata);

        Assert.That(File.ReadAllBytes(ours), Is.EqualTo(File.ReadAllBytes(torchPath)));
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory != null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "native", "include", "proteus", "proteus.h")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No repository above {AppContext.BaseDirectory}.");
    }
}
