namespace Proteus.Cli;

/// <summary>The entry point: picks the command, maps failures to exit codes (2 bad usage, 1 runtime error).</summary>
internal static class Cli
{
    public const int UsageExitCode = 2;

    public const string Usage = """
        proteus: Proteus Flux attention on CUDA, HIP and CPU.

        Usage:
          proteus info                 library version, compiled backends, every device
          proteus bench [options]      time flux attention over a sweep of sequence lengths or a suite
          proteus --help               this text

        bench options:
          --backend cpu|cuda|hip|best  device to run on (default best: CUDA, then HIP, then CPU)
          --batch B                    batch size (default 1)
          --heads H                    query heads (default 16)
          --kv-heads Hkv               key/value heads, dividing H (default H)
          --head-dim D                 16, 32, 64 or 128 (default 64)
          --dtype float32|float16|bfloat16
                                       element type (default bfloat16 on a GPU, float32 on the CPU)
          --seq T1,T2,...              sequence lengths (default the powers of two 1024..65536 on a GPU,
                                       256,512,1024,2048 on the CPU)
          --window W                   local window (default: dense)
          --anchor-stride S            anchor stride
          --anchors A                  anchor count
          --dna K                      DNA count
          --salience random            the salience DNA ranks by (random values, the only source so far)
          --shortlist                  shorthand for --window 341 --anchor-stride 256 --anchors 171
          --active-heads N             sparse rows: N random heads of H active at each token (default H)
          --keep-ratio r               sparse rows: round(r·T) tokens kept per batch row, token 0 always,
                                       the rest at random (default 1); a row is active when its head is
                                       active at that token and the token is kept
          --suite kernels|latency      a fixed set of cases instead of the options above (bfloat16, B = 1):
                                       kernels: the kernels' long-sequence cases (dense 16K/64K, shortlist
                                       256K–1M, shortlist with DNA 256K, sparse rows 1M), beside SDPA;
                                       latency: the cost of one call at small T (dense T 16, 256, 1024,
                                       H 16, D 64) and of the DNA and sparse-row paths at T 4096
          --scale f                    multiply every length of the suite by f in (0, 1], e.g. 1/256,
                                       for a smoke run on a slow device
          --mode auto|tile|row         GPU launch mode (default auto: the library's heuristic)
          --block-q N, --block-k N, --rows-per-warp 16|32, --stages N
                                       GPU launch configuration (default 0: the library's heuristic)
          --warmup N                   untimed runs per case, ≥ 1 (default 2; fewer once --budget is spent)
          --iterations N               at most N timed samples per case; the median is reported (default 30)
          --budget s                   about s seconds of timed samples per case (default 3): a slow case
                                       gets fewer samples (at least one); launches shorter than 2 ms are
                                       queued back to back and each sample reports their mean
          --json PATH                  also write the results as JSON, with the exact shapes, Σ|C(i)|,
                                       FLOPs and every sample

        Reported per case: the kernel the library ran, the median per call in ms and µs (calls queued
        back to back between two synchronisations), tokens/s (B·T over the median), TFLOP/s (dense:
        2·B·H·T²·D; otherwise 4·D·Σ|C(i)| over the active rows, counted exactly by the library) and
        the library's peak device allocation.

        The native library is found through PROTEUS_NATIVE_PATH (a file or directory) or next to
        the application.
        """;

    public static int Run(string[] args)
    {
        try
        {
            if (args.Length == 0)
            {
                throw new UsageException("no command given");
            }
            if (args[0] is "--help" or "-h" or "help")
            {
                Console.Error.WriteLine(Usage);
                return 0;
            }
            var options = new CommandLine(args[1..]);
            if (options.Flag("help"))
            {
                Console.Error.WriteLine(Usage);
                return 0;
            }
            return args[0] switch
            {
                "info" => InfoCommand.Run(options),
                "bench" => BenchCommand.Run(options),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"proteus: {e.Message}");
            Console.Error.WriteLine("Run 'proteus --help' for the commands and options.");
            return UsageExitCode;
        }
        catch (Exception e) when (e is ProteusException or DllNotFoundException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"proteus: {e.Message}");
            return 1;
        }
    }
}
