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
/// </remarks>
internal sealed class BufferLease : SafeHandle
{
    private readonly ProteusContextHandle _context;

    private BufferLease(ProteusBufferHandle buffer, ProteusContextHandle context)
        : base(0, ownsHandle: true)
    {
        Buffer = buffer;
        _context = context;
        SetHandle(buffer.DangerousGetHandle());
    }

    /// <summary>The native buffer; valid while a reference on this lease is held.</summary>
    public ProteusBufferHandle Buffer { get; }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <summary>Allocates <paramref name="bytes"/> on the context and takes a reference on the context for the buffer's lifetime.</summary>
    public static BufferLease Create(ProteusContextHandle context, ulong bytes)
    {
        bool contextReferenced = false;
        ProteusBufferHandle? buffer = null;
        try
        {
            context.DangerousAddRef(ref contextReferenced);
            NativeStatus.Check(NativeMethods.proteus_buffer_create(context, bytes, out buffer));
            return new BufferLease(buffer, context);
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
        return true;
    }
}
