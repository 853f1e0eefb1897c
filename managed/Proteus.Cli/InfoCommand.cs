using System.CommandLine;

namespace Proteus.Cli;

/// <summary><c>proteus info</c>: the library's version, build and backends, and every device it can open.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "The library version, the compiled backends and every device.");
        command.SetAction(_ => Run());
        return command;
    }

    private static int Run()
    {
        Console.WriteLine($"Proteus.Native {ProteusLibrary.Version}");
        Console.WriteLine($"native library:    {ProteusLibrary.NativeLibraryPath ?? "(found by the operating system's search)"}");
        Console.WriteLine($"compiled backends: {string.Join(", ", ProteusLibrary.CompiledBackends.Select(Names.Of))}");
        BuildInfo build = ProteusLibrary.BuildInfo;
        Console.WriteLine($"source revision:   {build.SourceRevision}");
        Console.WriteLine($"kernel sources:    sha256 {build.KernelSourceHash}");
        Console.WriteLine($"compiler:          {build.Compiler}");
        if (build.GpuBackend != Backend.Cpu)
        {
            Console.WriteLine(
                $"gpu:               {Names.Of(build.GpuBackend)} for {build.GpuArchitectures}, runtime {build.GpuRuntimeVersion}, " +
                $"driver {(build.GpuDriverVersion == 0 ? "not loaded" : build.GpuDriverVersion)}");
        }
        Console.WriteLine();

        IReadOnlyList<DeviceInfo> devices = Device.Enumerate();
        Console.WriteLine($"{"device",-8}  {"name",-40}  {"architecture",-12}  {"memory",10}  {"SMs",5}  {"warp",4}");
        foreach (DeviceInfo device in devices)
        {
            Console.WriteLine(
                $"{Names.Of(device.Backend) + ":" + device.Ordinal,-8}  {device.Name,-40}  {device.Architecture,-12}  " +
                $"{Names.Gibibytes(device.TotalMemory),10}  {device.MultiprocessorCount,5}  {device.WarpSize,4}");
        }
        if (devices.Any(d => d.Backend == Backend.Cpu))
        {
            using Device cpu = Device.Open(Backend.Cpu);
            Console.WriteLine($"cpu threads:       {cpu.Threads} in use (PROTEUS_NUM_THREADS, else the hardware threads)");
        }
        return 0;
    }
}

/// <summary>How the command line spells things.</summary>
internal static class Names
{
    public static string Of(Backend backend) => backend.ToString().ToLowerInvariant();

    public static string Of(DType dtype) => dtype.ToString().ToLowerInvariant();

    public static string Of(LaunchMode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>GpuTileOrRowMode → "gpu-tile-or-row-mode".</summary>
    public static string Of(FluxKernel kernel) =>
        string.Concat(kernel.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    public static string Gibibytes(ulong bytes) => $"{bytes / (double)(1UL << 30):0.0} GiB";
}
