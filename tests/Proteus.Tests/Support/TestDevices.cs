namespace Proteus.Tests.Support;

/// <summary>The devices the suite runs on.</summary>
public static class TestDevices
{
    /// <summary>
    /// The backend under test: environment variable PROTEUS_TEST_BACKEND (cpu, cuda or hip), cpu when unset.
    /// </summary>
    public static Backend Backend { get; } = ParseBackend(Environment.GetEnvironmentVariable("PROTEUS_TEST_BACKEND"));

    /// <summary>Opens device 0 of the backend under test.</summary>
    public static Device OpenUnderTest() => Device.Open(Backend);

    /// <summary>The first CUDA or HIP device, or null when this machine has none.</summary>
    public static DeviceInfo? FirstGpu() => Device.Enumerate().FirstOrDefault(d => d.Backend != Backend.Cpu);

    private static Backend ParseBackend(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "cpu" => Backend.Cpu,
        "cuda" => Backend.Cuda,
        "hip" => Backend.Hip,
        _ => throw new InvalidOperationException($"PROTEUS_TEST_BACKEND must be cpu, cuda or hip, not '{value}'"),
    };
}
