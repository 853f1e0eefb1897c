using System.Runtime.InteropServices;
using Proteus.Interop;

namespace Proteus;

/// <summary>
/// Owns one native buffer together with a reference on its context handle, and releases them in
/// that order: the buffer is destroyed first, then the context reference is dropped. Disposing the
/// <see cref="Device"/> therefore never destroys a context under a live buffer, and when both are left
/// to the finalizers, whichever runs first, the buffer is gone before its context.
/// </summary>
/// <remarks>
/// Operations on the buffer hold a reference on the lease (<see cref="SafeHandle.DangerousAddRef"/>)
/// for their duration, so a concurrent Dispose waits for them instead of freeing memory in use.
/// The handle value is the buffer's native handle; it is never passed to native code through the lease.
/// A buffer the library allocated tells the GC its size (<see cref="GC.AddMemoryPressure"/>) until it is
/// released, so that dropped buffers are collected and their finalizers free the memory; a wrapped
/// buffer owns no memory and reports none.
/// </remarks>
internal sealed class BufferLease : SafeHandle
{
    private readonly ProteusContextHandle _context;

    // The bytes reported to the GC with AddMemoryPressure, 0 for wrapped memory.
    private readonly long _pressure;

    private BufferLease(ProteusBufferHandle buffer, ProteusContextHandle context, long pressure)
        : base(0, ownsHandle: true)
    {
        Buffer = buffer;
        _context = context;
        _pressure = pressure;
        SetHandle(buffer.DangerousGetHandle());
        if (pressure > 0)
        {
            GC.AddMemoryPressure(pressure);
        }
    }

    /// <summary>The native buffer; valid while a reference on this lease is held.</summary>
    public ProteusBufferHandle Buffer { get; }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <summary>Allocates <paramref name="bytes"/> on the context and takes a reference on the context for the buffer's lifetime.</summary>
    public static BufferLease Create(ProteusContextHandle context, ulong bytes) =>
        Open(context, bytes > long.MaxValue ? long.MaxValue : (long)bytes, (ProteusContextHandle c, out ProteusBufferHandle b) =>
            NativeMethods.proteus_buffer_create(c, bytes, out b));

    /// <summary>Wraps <paramref name="bytes"/> of the caller's memory at <paramref name="pointer"/>; the library never frees it.</summary>
    public static unsafe BufferLease Wrap(ProteusContextHandle context, nint pointer, ulong bytes) =>
        Open(context, 0, (ProteusContextHandle c, out ProteusBufferHandle b) =>
            NativeMethods.proteus_buffer_wrap(c, (void*)pointer, bytes, out b));

    private delegate ProteusStatus BufferFactory(ProteusContextHandle context, out ProteusBufferHandle buffer);

    private static BufferLease Open(ProteusContextHandle context, long pressure, BufferFactory factory)
    {
        bool contextReferenced = false;
        ProteusBufferHandle? buffer = null;
        try
        {
            context.DangerousAddRef(ref contextReferenced);
            NativeStatus.Check(factory(context, out buffer));
            return new BufferLease(buffer, context, pressure);
        }
        catch
        {
            buffer?.Dispose();
            if (contextReferenced)
            {
                context.DangerousRelease();
            }
            throw;
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        Buffer.Dispose();
        _context.DangerousRelease();
        if (_pressure > 0)
        {
            GC.RemoveMemoryPressure(_pressure);
        }
        return true;
    }
}
