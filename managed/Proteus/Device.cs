using System.Runtime.CompilerServices;
using Proteus.Interop;

namespace Proteus;

/// <summary>
/// A device of one backend, opened with its own stream or on the caller's (a libproteus context).
/// Everything allocated, wrapped and launched through it belongs to it. Disposing it waits for its queued work and frees its
/// buffers; using it or any of its buffers afterwards throws <see cref="ObjectDisposedException"/>.
/// </summary>
/// <example>
/// <code>
/// using var device = Device.OpenBest();
/// using var q = device.Upload&lt;float&gt;(hostQuery);
/// </code>
/// </example>
public sealed class Device : IDisposable
{
    private readonly ProteusContextHandle _context;

    // The live buffers, weakly: Dispose frees them all, as the C ABI's context destroy would, while a
    // buffer nobody references can still be reclaimed by its finalizer.
    private readonly ConditionalWeakTable<BufferLease, object?> _buffers = new();

    private Device(ProteusContextHandle context, DeviceInfo info)
    {
        _context = context;
        Info = info;
    }

    /// <summary>Describes the device.</summary>
    public DeviceInfo Info { get; }

    /// <summary>The backend the device belongs to.</summary>
    public Backend Backend => Info.Backend;

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => _context.IsClosed;

    /// <summary>The native context, for the operations of this library.</summary>
    internal ProteusContextHandle Context
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _context;
        }
    }

    /// <summary>Every device of every backend compiled into the library, CPU included.</summary>
    /// <returns>The devices, by backend and then ordinal.</returns>
    public static unsafe IReadOnlyList<DeviceInfo> Enumerate()
    {
        var devices = new List<DeviceInfo>();
        foreach (Backend backend in ProteusLibrary.CompiledBackends)
        {
            for (int ordinal = 0; ordinal < DeviceCount(backend); ordinal++)
            {
                ProteusDeviceInfo info = DeviceInfo.NativeRequest();
                NativeStatus.Check(NativeMethods.proteus_device_get_info((int)backend, ordinal, &info));
                devices.Add(DeviceInfo.FromNative(info));
            }
        }
        return devices;
    }

    /// <summary>Opens device <paramref name="ordinal"/> of <paramref name="backend"/>.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="ordinal">The device's ordinal within the backend.</param>
    /// <returns>The opened device; dispose it when done.</returns>
    /// <exception cref="ProteusBackendUnavailableException">The backend is not compiled in or has no such device.</exception>
    public static unsafe Device Open(Backend backend, int ordinal = 0)
    {
        NativeStatus.Check(NativeMethods.proteus_context_create((int)backend, ordinal, out ProteusContextHandle context));
        return FromContext(context);
    }

    private static unsafe Device FromContext(ProteusContextHandle context)
    {
        try
        {
            ProteusDeviceInfo info = DeviceInfo.NativeRequest();
            NativeStatus.Check(NativeMethods.proteus_context_get_info(context, &info));
            return new Device(context, DeviceInfo.FromNative(info));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens device <paramref name="ordinal"/> of <paramref name="backend"/> on the caller's stream (a
    /// <c>cudaStream_t</c> or <c>hipStream_t</c> of that device, e.g. PyTorch's current stream or an
    /// engine's; <see cref="IntPtr.Zero"/> is the legacy default stream). All of the device's work is
    /// queued there, so it orders with the caller's own work and can be captured into the caller's CUDA
    /// graph. The caller keeps owning the stream: disposing the device waits for it but never destroys it.
    /// </summary>
    /// <param name="backend">The backend; the CPU backend has no streams, so <paramref name="stream"/> must be zero there.</param>
    /// <param name="ordinal">The device's ordinal within the backend.</param>
    /// <param name="stream">The stream, which must stay alive until the device is disposed.</param>
    /// <returns>The opened device; dispose it when done.</returns>
    /// <exception cref="ProteusBackendUnavailableException">The backend is not compiled in or has no such device.</exception>
    /// <exception cref="ProteusInvalidArgumentException">A stream on the CPU backend.</exception>
    public static unsafe Device OpenOnStream(Backend backend, int ordinal, nint stream)
    {
        NativeStatus.Check(NativeMethods.proteus_context_create_on_stream((int)backend, ordinal, (void*)stream, out ProteusContextHandle context));
        return FromContext(context);
    }

    /// <summary>Opens the first device of the best backend present: CUDA, then HIP, then the CPU.</summary>
    /// <returns>The opened device; dispose it when done.</returns>
    public static Device OpenBest()
    {
        IReadOnlyList<Backend> compiled = ProteusLibrary.CompiledBackends;
        foreach (Backend backend in (ReadOnlySpan<Backend>)[Backend.Cuda, Backend.Hip])
        {
            if (compiled.Contains(backend) && DeviceCount(backend) > 0)
            {
                return Open(backend);
            }
        }
        return Open(Backend.Cpu);
    }

    /// <summary>Free and total device memory and the library's current and peak allocations on this device.</summary>
    /// <returns>The figures at the time of the call.</returns>
    public unsafe MemoryStats GetMemoryStats()
    {
        ProteusMemoryStats stats = default;
        stats.StructSize = (uint)sizeof(ProteusMemoryStats);
        NativeStatus.Check(NativeMethods.proteus_context_memory(Context, &stats));
        return new MemoryStats(
            stats.FreeBytes, stats.TotalBytes, stats.AllocatedBytes, stats.PeakAllocatedBytes, stats.LimitBytes, stats.WorkspaceReservedBytes);
    }

    /// <summary>Sets the peak-allocation counter to the current allocation, to measure the peak of what follows.</summary>
    public void ResetPeak() => NativeStatus.Check(NativeMethods.proteus_context_reset_peak(Context));

    /// <summary>
    /// Caps what the library may hold on this device (buffers and workspaces); past it, allocations
    /// fail with <see cref="ProteusOutOfMemoryException"/> as if the device were full.
    /// </summary>
    /// <param name="bytes">The cap in bytes; 0 removes it.</param>
    public void SetMemoryLimit(ulong bytes) => NativeStatus.Check(NativeMethods.proteus_context_set_memory_limit(Context, bytes));

    /// <summary>The most worker threads a CPU device may run.</summary>
    public const int MaxThreads = 4096;

    /// <summary>
    /// The worker threads of the CPU kernels (the calling thread counts as one); started once when set and
    /// reused by every call. A new CPU device starts with <c>PROTEUS_NUM_THREADS</c> when that is set, else
    /// the hardware threads. GPU devices run no host worker threads: the count reads 0 and cannot be set.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 1…<see cref="MaxThreads"/>.</exception>
    /// <exception cref="NotSupportedException">Setting it on a GPU device.</exception>
    /// <exception cref="ProteusOutOfMemoryException">The system refused to start a thread.</exception>
    public unsafe int Threads
    {
        get
        {
            int threads = 0;
            NativeStatus.Check(NativeMethods.proteus_context_get_threads(Context, &threads));
            return threads;
        }
        set
        {
            if (Backend != Backend.Cpu)
            {
                throw new NotSupportedException($"{Backend} devices run no host worker threads; Threads applies to the CPU device only.");
            }
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxThreads);
            NativeStatus.Check(NativeMethods.proteus_context_set_threads(Context, value));
        }
    }

    /// <summary>Blocks until all work queued on the device's stream is done.</summary>
    public void Synchronize() => NativeStatus.Check(NativeMethods.proteus_context_synchronize(Context));

    /// <summary>Allocates a buffer of <paramref name="length"/> elements. Its contents are undefined until written.</summary>
    /// <typeparam name="T">float, <see cref="Half"/>, <see cref="BFloat16"/> or byte.</typeparam>
    /// <param name="length">The number of elements, ≥ 1.</param>
    /// <returns>The buffer; dispose it when done.</returns>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not a supported element type.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is &lt; 1 or its size in bytes overflows.</exception>
    /// <exception cref="ProteusOutOfMemoryException">The device (or its limit) has no room.</exception>
    public DeviceBuffer<T> Allocate<T>(long length)
        where T : unmanaged
    {
        _ = ElementType<T>.DType;
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, long.MaxValue / ElementType<T>.Size);
        BufferLease lease = BufferLease.Create(Context, (ulong)(length * ElementType<T>.Size));
        _buffers.AddOrUpdate(lease, null);
        return new DeviceBuffer<T>(this, lease, length);
    }

    /// <summary>
    /// A buffer over <paramref name="length"/> elements of memory the caller owns at <paramref name="pointer"/>:
    /// device memory of this device on CUDA and HIP (a PyTorch or TorchSharp tensor's data pointer, an
    /// engine's allocation), host memory on the CPU backend (pinned, e.g. with <see cref="System.Runtime.InteropServices.GCHandle"/>).
    /// No copy is made. The library never frees the memory: disposing the buffer or the device leaves it
    /// intact, and the caller keeps it alive (and, for host memory, pinned) while the buffer or any work
    /// queued on it uses it. Wrapped memory is not counted in the device's allocations, limit or GC pressure.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/>, <see cref="BFloat16"/> or byte.</typeparam>
    /// <param name="pointer">The address of element 0, aligned for <typeparamref name="T"/>.</param>
    /// <param name="length">The number of elements, ≥ 1.</param>
    /// <returns>The buffer; dispose it when done (the memory stays).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is &lt; 1 or its size in bytes overflows.</exception>
    /// <exception cref="ProteusInvalidArgumentException">The library cannot use the memory (null, misaligned, not of this device).</exception>
    public DeviceBuffer<T> Wrap<T>(nint pointer, long length)
        where T : unmanaged
    {
        _ = ElementType<T>.DType;
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, long.MaxValue / ElementType<T>.Size);
        BufferLease lease = BufferLease.Wrap(Context, pointer, (ulong)(length * ElementType<T>.Size));
        _buffers.AddOrUpdate(lease, null);
        return new DeviceBuffer<T>(this, lease, length);
    }

    /// <summary>Allocates a buffer holding a copy of <paramref name="data"/>.</summary>
    /// <typeparam name="T">float, <see cref="Half"/>, <see cref="BFloat16"/> or byte.</typeparam>
    /// <param name="data">The elements to copy; at least one.</param>
    /// <returns>The buffer; dispose it when done.</returns>
    public DeviceBuffer<T> Upload<T>(ReadOnlySpan<T> data)
        where T : unmanaged
    {
        if (data.IsEmpty)
        {
            throw new ArgumentException("A device buffer holds at least one element.", nameof(data));
        }
        DeviceBuffer<T> buffer = Allocate<T>(data.Length);
        try
        {
            buffer.CopyFrom(data);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Forgets a buffer that has been disposed on its own.</summary>
    internal void Forget(BufferLease lease) => _buffers.Remove(lease);

    /// <summary>Waits for the device's queued work, frees its buffers and closes it. A second call does nothing.</summary>
    public void Dispose()
    {
        if (IsDisposed)
        {
            return;
        }
        foreach (KeyValuePair<BufferLease, object?> buffer in (IEnumerable<KeyValuePair<BufferLease, object?>>)_buffers)
        {
            buffer.Key.Dispose();
        }
        _buffers.Clear();
        _context.Dispose();
    }

    /// <summary>The backend, ordinal and name, e.g. "Cuda:0 NVIDIA H100 80GB HBM3".</summary>
    /// <returns>A one-line description.</returns>
    public override string ToString() => $"{Backend}:{Info.Ordinal} {Info.Name}";

    private static unsafe int DeviceCount(Backend backend)
    {
        int count;
        NativeStatus.Check(NativeMethods.proteus_device_count((int)backend, &count));
        return count;
    }
}
