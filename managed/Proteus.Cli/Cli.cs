namespace Proteus.Cli;

/// <summary>The entry point: picks the command, maps failures to exit codes (2 bad usage, 1 runtime error).</summary>
internal static class Cli
{
    public const int UsageExitCode = 2;

    public const string Usage = """
        proteus: Proteus Flux attention on CUDA, HIP and CPU.

        Usage:
          proteus info                 library version, compiled backends, every device
          proteus bench [options]      time flux attention over a sweep of sequence lengths
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
          --dna K                      DNA count (random salience)
          --shortlist                  shorthand for --window 341 --anchor-stride 256 --anchors 171
          --warmup N                   untimed runs per length (default 1)
          --iterations N               timed runs per length; the median is reported (default 5)
          --json PATH                  also write the results as JSON

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
