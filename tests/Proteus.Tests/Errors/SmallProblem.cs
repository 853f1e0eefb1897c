using Proteus.Tests.Flux;

namespace Proteus.Tests.Errors;

/// <summary>
/// A valid float32 flux attention call (B 1, H 2, Hkv 1, T 8, D 16, [B, H, T, D]) whose tensors the
/// error tests replace one at a time with a bad one.
/// </summary>
public sealed class SmallProblem : IDisposable
{
    public const int Heads = 2;
    public const int KvHeads = 1;
    public const int SeqLen = 8;
    public const int HeadDim = 16;

    private readonly List<IDisposable> owned = [];

    public SmallProblem(Device device)
    {
        Device = device;
        Query = Tensor(Heads);
        Key = Tensor(KvHeads);
        Value = Tensor(KvHeads);
        Output = Tensor(Heads);
    }

    public Device Device { get; }

    public TensorView<float> Query { get; }

    public TensorView<float> Key { get; }

    public TensorView<float> Value { get; }

    public TensorView<float> Output { get; }

    /// <summary>A buffer of <paramref name="length"/> elements, freed with the problem.</summary>
    public DeviceBuffer<T> Buffer<T>(long length) where T : unmanaged
    {
        var buffer = Device.Allocate<T>(length);
        owned.Add(buffer);
        return buffer;
    }

    /// <summary>The inputs with the given tensors replaced.</summary>
    public FluxInputs<float> With(
        TensorView<float>? query = null, TensorView<float>? key = null, TensorView<float>? value = null, TensorView<float>? output = null,
        TensorView<byte>? active = null, TensorView<float>? salience = null, TensorView<float>? lse = null) => new()
        {
            Query = query ?? Query,
            Key = key ?? Key,
            Value = value ?? Value,
            Output = output ?? Output,
            Active = active,
            Salience = salience,
            Lse = lse,
        };

    /// <summary>Runs flux attention on the problem's device.</summary>
    public void Run(FluxInputs<float> inputs, FluxParameters? parameters = null) =>
        new FluxAttention(Device).Run(inputs, parameters ?? FluxParameters.Dense);

    public void Dispose()
    {
        foreach (var buffer in owned)
        {
            buffer.Dispose();
        }
    }

    private TensorView<float> Tensor(int heads)
    {
        var buffer = Buffer<float>((long)heads * SeqLen * HeadDim);
        buffer.Fill(0.25f);
        return TensorLayouts.Bhtd(buffer, 1, heads, SeqLen, HeadDim);
    }
}

/// <summary>Checks that a device still computes correctly (after an error, a limit, a dispose nearby).</summary>
public static class DeviceHealth
{
    public static void AssertComputesCorrectly(Device device)
    {
        var c = FluxCases.Draw(1, CandidatePolicy.Aligned, DType.Float32, 16, 2, StorageLayout.Bhtd, 33,
            coversSequence: false, withActiveMask: true, withLse: true, explicitScale: false);
        var problem = FluxProblem.Create(c);
        var expected = problem.Reference();
        FluxAssert.Matches(problem, FluxRun.On(device, problem), expected.Output, expected.Lse, "reference");
    }
}
