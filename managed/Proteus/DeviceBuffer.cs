using Proteus.Interop;

namespace Proteus;

/// <summary>
/// Device memory holding <see cref="Length"/> elements of <typeparamref name="T"/> on one <see cref="Device"/>:
/// allocated by the library (<see cref="Device.Allocate{T}"/>) or the caller's own (<see cref="Device.Wrap{T}"/>).
/// Copies in and out take spans and go straight between the span's memory and the device; nothing is
/// staged on the host. Dispose frees allocated memory (wrapped memory stays the caller's); a second Dispose does nothing,
/// and any other use afterwards (or after the device is disposed) throws <see cref="ObjectDisposedException"/>.
/// </summary>
/// <typeparam name="T">float, <see cref="Half"/>, <see cref="BFloat16"/> or byte.</typeparam>
public sealed class DeviceBuffer<T> : IDisposable
    where T : unmanaged
{
    private readonly BufferLease _lease;

    internal DeviceBuffer(Device device, BufferLease lease, long length)
    {
        Device = device;
        _lease = lease;
        Length = length;
    }

    /// <summary>The device that owns the memory.</summary>
    public Device Device { get; }

    /// <summary>The number of elements.</summary>
    public long Length { get; }

    /// <summary>The size in bytes.</summary>
    public ulong SizeInBytes => (ulong)Length * (ulong)ElementType<T>.Size;

    /// <summary>The element type as the library names it.</summary>
    public DType DType => ElementType<T>.DType;

    /// <summary>Whether the buffer, or its device, has been disposed.</summary>
    public bool IsDisposed => _lease.IsClosed;

    /// <summary>
    /// The device address of element 0, for engines that launch their own work on the memory. Valid
    /// while the buffer is not disposed; the caller must order its work with the device's stream.
    /// </summary>
    public unsafe nint DevicePointer
    {
        get
        {
            using HandleReferences held = Hold();
            void* pointer;
            NativeStatus.Check(NativeMethods.proteus_buffer_device_pointer(_lease.Buffer, &pointer));
            return (nint)pointer;
        }
    }

    /// <summary>The lease that keeps the native buffer alive; operations reference it for their duration.</summary>
    internal BufferLease Lease => _lease;

    /// <summary>Copies <paramref name="source"/> into the buffer starting at element <paramref name="offset"/>; returns when the copy is done.</summary>
    /// <param name="source">The elements to copy.</param>
    /// <param name="offset">The first element written.</param>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie within the buffer.</exception>
    public unsafe void CopyFrom(ReadOnlySpan<T> source, long offset = 0)
    {
        CheckRange(offset, source.Length, nameof(source));
        using HandleReferences held = Hold();
        if (source.IsEmpty)
        {
            return;
        }
        fixed (T* pointer = source)
        {
            NativeStatus.Check(NativeMethods.proteus_buffer_upload(
                _lease.Buffer, ByteOffset(offset), pointer, (ulong)source.Length * (ulong)sizeof(T)));
        }
    }

    /// <summary>Copies elements starting at <paramref name="offset"/> into <paramref name="destination"/> (as many as it holds); waits for the device's queued work that writes them.</summary>
    /// <param name="destination">Receives the elements.</param>
    /// <param name="offset">The first element read.</param>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie within the buffer.</exception>
    public unsafe void CopyTo(Span<T> destination, long offset = 0)
    {
        CheckRange(offset, destination.Length, nameof(destination));
        using HandleReferences held = Hold();
        if (destination.IsEmpty)
        {
            return;
        }
        fixed (T* pointer = destination)
        {
            NativeStatus.Check(NativeMethods.proteus_buffer_download(
                _lease.Buffer, ByteOffset(offset), pointer, (ulong)destination.Length * (ulong)sizeof(T)));
        }
    }

    /// <summary>Copies the whole buffer into a new array.</summary>
    /// <returns>The elements.</returns>
    /// <exception cref="InvalidOperationException">The buffer has more elements than an array can hold.</exception>
    public T[] ToArray()
    {
        if (Length > Array.MaxLength)
        {
            throw new InvalidOperationException($"The buffer's {Length} elements do not fit in one array; copy it in parts with CopyTo.");
        }
        var array = new T[Length];
        CopyTo(array);
        return array;
    }

    /// <summary>
    /// Copies all of <paramref name="source"/> (a buffer of the same device) into this buffer's first
    /// elements, on the device's stream.
    /// </summary>
    /// <param name="source">The buffer to copy; not longer than this one, and not this one.</param>
    /// <exception cref="ArgumentException"><paramref name="source"/> is longer than this buffer.</exception>
    /// <exception cref="ProteusDeviceMismatchException"><paramref name="source"/> belongs to another device.</exception>
    public void CopyFrom(DeviceBuffer<T> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Length > Length)
        {
            throw new ArgumentException($"The source holds {source.Length} elements, more than this buffer's {Length}.", nameof(source));
        }
        using HandleReferences held = Hold();
        source.ThrowIfDisposed();
        held.Add(source._lease);
        NativeStatus.Check(NativeMethods.proteus_buffer_copy(_lease.Buffer, 0, source._lease.Buffer, 0, source.SizeInBytes));
    }

    /// <summary>Sets every element to <paramref name="value"/>, on the device's stream.</summary>
    /// <param name="value">The value, stored bit for bit (for example NaN, to poison an output).</param>
    public unsafe void Fill(T value)
    {
        using HandleReferences held = Hold();
        NativeStatus.Check(NativeMethods.proteus_buffer_fill(_lease.Buffer, 0, SizeInBytes, &value, (uint)sizeof(T)));
    }

    /// <summary>Frees the device memory (for a wrapped buffer: forgets it, leaving the memory intact). A second call does nothing.</summary>
    public void Dispose()
    {
        if (!_lease.IsClosed)
        {
            Device.Forget(_lease);
            _lease.Dispose();
        }
    }

    /// <summary>The element type, length and device, e.g. "DeviceBuffer&lt;Single&gt;[4096] on Cpu:0 …".</summary>
    /// <returns>A one-line description.</returns>
    public override string ToString() => $"DeviceBuffer<{typeof(T).Name}>[{Length}] on {Device}";

    /// <summary><see cref="ObjectDisposedException"/> when the buffer or its device is disposed.</summary>
    internal void ThrowIfDisposed()
    {
        // The device first: disposing it disposes its buffers, and the message should say which was disposed.
        ObjectDisposedException.ThrowIf(Device.IsDisposed, Device);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
    }

    /// <summary>References the buffer for the duration of one operation (see <see cref="BufferLease"/>).</summary>
    private HandleReferences Hold()
    {
        ThrowIfDisposed();
        var held = new HandleReferences();
        held.Add(_lease);
        return held;
    }

    private void CheckRange(long offset, int count, string spanName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, Length);
        if (count > Length - offset)
        {
            throw new ArgumentOutOfRangeException(spanName, count,
                $"{count} elements from offset {offset} run past the end of the buffer ({Length} elements).");
        }
    }

    private static ulong ByteOffset(long offset) => (ulong)offset * (ulong)ElementType<T>.Size;
}
