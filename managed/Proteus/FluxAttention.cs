using Proteus.Interop;

namespace Proteus;

/// <summary>The flux attention operation on one device (SPEC §2): softmax attention of every active row over its candidate set C(i).</summary>
public sealed class FluxAttention
{
    /// <summary>Creates the operation for <paramref name="device"/>.</summary>
    /// <param name="device">The device every tensor of a call must live on.</param>
    public FluxAttention(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
    }

    /// <summary>The device the operation runs on.</summary>
    public Device Device { get; }

    /// <summary>
    /// Queues flux attention on the device's stream. Every argument is validated by the library
    /// before any work starts. Read the results after <see cref="Device.Synchronize"/> or through
    /// <see cref="DeviceBuffer{T}.CopyTo"/>, which waits.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <param name="inputs">The tensors.</param>
    /// <param name="parameters">The candidate policy and budgets.</param>
    /// <param name="launch">The GPU launch configuration; null for the library's heuristic.</param>
    /// <exception cref="ProteusInvalidArgumentException">A shape, stride, budget or missing tensor; <see cref="ProteusInvalidArgumentException.ArgumentName"/> says which.</exception>
    /// <exception cref="ProteusUnsupportedDTypeException">The element type is not float32, float16 or bfloat16.</exception>
    /// <exception cref="ProteusUnsupportedHeadDimException">D is not 16, 32, 64 or 128.</exception>
    /// <exception cref="ProteusDeviceMismatchException">A tensor's buffer belongs to another device.</exception>
    /// <exception cref="ProteusOutOfMemoryException">The workspace does not fit.</exception>
    public unsafe void Run<T>(FluxInputs<T> inputs, FluxParameters parameters, LaunchConfig? launch = null)
        where T : unmanaged
    {
        _ = ElementType<T>.DType;
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(parameters);
        ProteusContextHandle context = Device.Context;

        // The tensors carry raw buffer handles, which the marshaller cannot protect: hold them for the call.
        using var held = new HandleReferences();
        var tensors = new ProteusFluxTensors
        {
            Q = inputs.Query.ToNative(held, "query"),
            K = inputs.Key.ToNative(held, "key"),
            V = inputs.Value.ToNative(held, "value"),
            O = inputs.Output.ToNative(held, "output"),
            Active = inputs.Active?.ToNative(held, "active") ?? default,
            Salience = inputs.Salience?.ToNative(held, "salience") ?? default,
            Lse = inputs.Lse?.ToNative(held, "lse") ?? default,
        };
        ProteusFluxParams nativeParameters = parameters.ToNative();
        if (launch is null)
        {
            NativeStatus.Check(NativeMethods.proteus_flux_attention(context, &tensors, &nativeParameters, null));
        }
        else
        {
            ProteusLaunchConfig nativeLaunch = launch.ToNative();
            NativeStatus.Check(NativeMethods.proteus_flux_attention(context, &tensors, &nativeParameters, &nativeLaunch));
        }
    }
}
