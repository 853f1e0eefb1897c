using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Proteus.Tuning;

namespace Proteus.Tests.Tuning;

/// <summary>The tuning cache's file semantics (SPEC §8): keys, environments, merging writers, corruption, unwritable directories.</summary>
[NonParallelizable]  // the logger is process-wide
public sealed class TuningCacheTests
{
    private static readonly TuningEnvironment Here = new(Backend.Cuda, "Test GPU", "sm_90", 11080, 12040, "0.2.0", "aaaa");
    private static readonly TunedLaunch Tile64 = new(new LaunchConfig { Mode = LaunchMode.Tile, BlockQ = 64, BlockK = 64, RowsPerWarp = 16, Stages = 2 }, 1.0, 1.5, DateTimeOffset.UnixEpoch);

    private string directory = "";

    [SetUp]
    public void CreateDirectory()
    {
        directory = Path.Combine(Path.GetTempPath(), "proteus-tuning-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
    }

    [TearDown]
    public void RemoveDirectory()
    {
        ProteusLibrary.Logger = null;
        MakeWritable(directory);
        Directory.Delete(directory, recursive: true);
    }

    private static TuningKey Key(long n) => new(DType.Float16, CandidatePolicy.Aligned, 64, 8, 8, 1024, 1024, -1, 10, 0, 0, n);

    [Test]
    public void KeysBucketTAlphaDensityAndBudgets()
    {
        var parameters = FluxParameters.Dense with { Window = 300, AnchorCount = 5, AnchorStride = 64, DnaCount = 0 };
        TuningKey key = TuningKey.Of(new FluxSignature(DType.BFloat16, 2, 16, 4, 3000, 1, 128, parameters, Alpha: 0.34, Masked: true, ActiveDensity: 0.21));

        Assert.That(key, Is.EqualTo(new TuningKey(DType.BFloat16, CandidatePolicy.Aligned, 128, 16, 4, 4096, 1, 3, 3, 512, 8, 0)));
        // Near problems share a key; a dense window, no mask and an unknown mask have buckets of their own.
        Assert.That(TuningKey.Of(new FluxSignature(DType.BFloat16, 1, 16, 4, 2049, 1, 128, parameters with { Window = 257, AnchorCount = 8 }, 0.3, true, 0.3)), Is.EqualTo(key));
        TuningKey dense = TuningKey.Of(new FluxSignature(DType.Float32, 1, 8, 8, 1000, 1000, 64, FluxParameters.Dense));
        Assert.That((dense.SeqLenBucket, dense.WindowBucket, dense.DensityTenths, dense.AlphaTenths), Is.EqualTo((1024L, 0L, 10, -1)));
        Assert.That(TuningKey.Of(new FluxSignature(DType.Float32, 1, 8, 8, 1000, 1000, 64, FluxParameters.Dense, Masked: true)).DensityTenths, Is.EqualTo(-1));
        Assert.That(new[] { TuningKey.NextPowerOfTwo(0), TuningKey.NextPowerOfTwo(1), TuningKey.NextPowerOfTwo(4096), TuningKey.NextPowerOfTwo(4097) },
            Is.EqualTo(new long[] { 1, 1, 4096, 8192 }));
    }

    [Test]
    public void AnEntryIsSeenByAnotherInstanceAndTheFileHoldsTheEnvironmentAndKey()
    {
        new TuningCache(directory).Put(Here, Key(1), Tile64);

        Assert.That(new TuningCache(directory).TryGet(Here, Key(1), out TunedLaunch? found), Is.True);
        Assert.That(found, Is.EqualTo(Tile64));
        using JsonDocument file = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, TuningCache.FileName)));
        JsonElement section = file.RootElement.GetProperty("sections")[0];
        Assert.That(file.RootElement.GetProperty("format").GetString(), Is.EqualTo(TuningCache.Format));
        Assert.That(section.GetProperty("environment").GetProperty("kernelSourceHash").GetString(), Is.EqualTo("aaaa"));
        Assert.That(section.GetProperty("environment").GetProperty("driverVersion").GetInt32(), Is.EqualTo(12040));
        JsonElement key = section.GetProperty("entries")[0].GetProperty("key");
        foreach (string field in new[] { "dType", "headDim", "heads", "kvHeads", "seqLenBucket", "alphaTenths", "densityTenths", "windowBucket", "anchorBucket", "dnaBucket" })
        {
            Assert.That(key.TryGetProperty(field, out _), Is.True, field);
        }
    }

    [Test]
    public void OtherEnvironmentsAreIgnoredButKept()
    {
        TuningEnvironment elsewhere = Here with { DeviceName = "Other GPU", Architecture = "sm_80" };
        new TuningCache(directory).Put(elsewhere, Key(1), Tile64);
        var cache = new TuningCache(directory);
        cache.Put(Here, Key(2), Tile64);

        Assert.That(cache.TryGet(Here, Key(1), out _), Is.False, "another machine's entry is never used");
        Assert.That(new TuningCache(directory).ReadAll().Select(s => s.Environment), Is.EquivalentTo(new[] { elsewhere, Here }));
        Assert.That(new TuningCache(directory).TryGet(elsewhere, Key(1), out _), Is.True, "…nor deleted");
    }

    [Test]
    public void AChangeOfKernelSourcesInvalidatesTheEntries()
    {
        new TuningCache(directory).Put(Here, Key(1), Tile64);

        Assert.That(new TuningCache(directory).TryGet(Here with { KernelSourceHash = "bbbb" }, Key(1), out _), Is.False);
        Assert.That(new TuningCache(directory).TryGet(Here with { DriverVersion = 12050 }, Key(1), out _), Is.False);
        Assert.That(new TuningCache(directory).TryGet(Here, Key(1), out _), Is.True);
    }

    [Test]
    public void ACorruptFileIsReportedOnceAndRebuilt()
    {
        var logger = new RecordingLogger(LogLevel.Warning);
        ProteusLibrary.Logger = logger;
        string path = Path.Combine(directory, TuningCache.FileName);
        File.WriteAllText(path, "{\"format\": \"proteus-tuning-cache/1\", \"sections\": [ {\"environ");
        var cache = new TuningCache(directory);

        Assert.That(cache.TryGet(Here, Key(1), out _), Is.False);
        Assert.That(cache.ReadAll(), Is.Empty);
        cache.Put(Here, Key(1), Tile64);

        Assert.That(logger.Messages.Count(m => m.Contains("corrupt")), Is.EqualTo(1));
        Assert.That(new TuningCache(directory).TryGet(Here, Key(1), out _), Is.True, "the rebuilt file is valid");
    }

    [Test]
    public void AFileOfValidJsonButMissingFieldsIsCorrupt()
    {
        var logger = new RecordingLogger(LogLevel.Warning);
        ProteusLibrary.Logger = logger;
        File.WriteAllText(Path.Combine(directory, TuningCache.FileName), "{\"format\": \"proteus-tuning-cache/1\", \"sections\": [ {\"entries\": []} ]}");

        Assert.That(new TuningCache(directory).TryGet(Here, Key(1), out _), Is.False);
        Assert.That(logger.Messages, Has.One.Contains("corrupt"));
        Assert.That(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, TuningCache.FileName))).RootElement.GetProperty("sections").GetArrayLength(),
            Is.EqualTo(0), "rebuilt at once");
    }

    [Test]
    public void AnUnwritableDirectoryWarnsOnceAndKeepsTheEntriesInTheProcess()
    {
        var logger = new RecordingLogger(LogLevel.Warning);
        ProteusLibrary.Logger = logger;
        Assume.That(OperatingSystem.IsWindows(), Is.False, "Unix file modes");
        string unwritable = OperatingSystem.IsWindows() ? "" : UnwritableDirectory();
        var cache = new TuningCache(unwritable);

        cache.Put(Here, Key(1), Tile64);
        cache.Put(Here, Key(2), Tile64);

        Assert.That(cache.TryGet(Here, Key(1), out _), Is.True);
        Assert.That(cache.TryGet(Here, Key(2), out _), Is.True);
        Assert.That(logger.Messages.Count(m => m.Contains("cannot be written")), Is.EqualTo(1));
    }

    [Test]
    [CancelAfter(60_000)]
    public void EightProcessesOfFiftyWritesLoseNothing()
    {
        const int Writers = 8, Writes = 50;
        string helper = Path.Combine(AppContext.BaseDirectory, "TuningCacheWriter.dll");
        var processes = Enumerable.Range(0, Writers).Select(writer => Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { helper, directory, writer.ToString(System.Globalization.CultureInfo.InvariantCulture), Writes.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            RedirectStandardError = true,
            UseShellExecute = false,
        })!).ToArray();
        // Meanwhile this process reads: every file it sees is whole.
        var reader = new TuningCache(directory);
        while (processes.Any(p => !p.HasExited))
        {
            Assert.That(reader.ReadAll(), Is.Not.Null);
            Thread.Sleep(5);
        }
        foreach (Process process in processes)
        {
            process.WaitForExit();
            Assert.That(process.ExitCode, Is.Zero, process.StandardError.ReadToEnd());
            process.Dispose();
        }

        IReadOnlyList<TuningCacheSection> sections = new TuningCache(directory).ReadAll();
        Assert.That(sections, Has.Count.EqualTo(1));
        var keys = sections[0].Entries.Select(e => (e.Key.Heads - 1, e.Key.DnaBucket)).ToHashSet();
        Assert.That(keys, Has.Count.EqualTo(Writers * Writes));
        Assert.That(Directory.GetFiles(directory, "*.tmp"), Is.Empty, "no temporary file left behind");
    }

    /// <summary>A directory this process cannot write: read-only, or (as root, who writes anyway) one below a plain file.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private string UnwritableDirectory()
    {
        string readOnly = Path.Combine(directory, "read-only");
        Directory.CreateDirectory(readOnly);
        File.SetUnixFileMode(readOnly, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            File.WriteAllText(Path.Combine(readOnly, "probe"), "");
        }
        catch (UnauthorizedAccessException)
        {
            return readOnly;
        }
        string plainFile = Path.Combine(directory, "a-file");
        File.WriteAllText(plainFile, "");
        return Path.Combine(plainFile, "cache");
    }

    private static void MakeWritable(string root)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        foreach (string sub in Directory.GetDirectories(root, "*", SearchOption.AllDirectories))
        {
            File.SetUnixFileMode(sub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
