// TuningCacheWriter <directory> <writer> <count>: puts <count> entries, one write each, keyed by
// (writer, n) so that every entry of every writer is distinct, into the tuning cache in <directory>.
using Proteus;
using Proteus.Tuning;

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: TuningCacheWriter <directory> <writer> <count>");
    return 2;
}
string directory = args[0];
int writer = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
int count = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
var environment = new TuningEnvironment(Backend.Cuda, "Test GPU", "sm_90", 11080, 12040, "0.2.0", "hash");
var cache = new TuningCache(directory);
for (int n = 0; n < count; n++)
{
    var key = new TuningKey(DType.Float16, CandidatePolicy.Aligned, 64, writer + 1, 1, 1024, 1024, -1, 10, 0, 0, n);
    cache.Put(environment, key, new TunedLaunch(new LaunchConfig { Mode = LaunchMode.Tile, BlockQ = 64 }, 1.0, 2.0, DateTimeOffset.UnixEpoch));
}
return 0;
