using Proteus.Cli;
using Proteus.Tuning;

namespace Proteus.Tests.Cli;

/// <summary><c>proteus tune</c> on the CPU: given shapes are tuned and cached, <c>--show</c> lists them, <c>--clear</c> removes them.</summary>
[NonParallelizable]  // Console output
public sealed class TuneCommandTests
{
    [Test]
    public void TuneShowAndClearUseTheGivenCacheDirectory()
    {
        string directory = Path.Combine(Path.GetTempPath(), "proteus-tune-cli-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.That(global::Proteus.Cli.Cli.Run(["tune", "--seq", "64", "--heads", "2", "--head-dim", "16", "--dtype", "float32", "--budget", "1", "--cache-dir", directory]), Is.Zero);
            IReadOnlyList<TuningCacheSection> sections = new TuningCache(directory).ReadAll();
            Assert.That(sections.Single().Entries.Single().Key.SeqLenBucket, Is.EqualTo(64));

            Assert.That(global::Proteus.Cli.Cli.Run(["tune", "--show", "--cache-dir", directory]), Is.Zero);
            Assert.That(global::Proteus.Cli.Cli.Run(["tune", "--clear", "--cache-dir", directory]), Is.Zero);
            Assert.That(new TuningCache(directory).ReadAll(), Is.Empty);
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
