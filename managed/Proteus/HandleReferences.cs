using System.Runtime.InteropServices;

namespace Proteus;

/// <summary>
/// References on the safe handles a native call uses through raw handle values (the tensors of a
/// flux call): while held, no Dispose or finalizer can free them. Released in reverse order by Dispose.
/// </summary>
internal sealed class HandleReferences : IDisposable
{
    private readonly List<SafeHandle> _held = [];

    /// <summary>References <paramref name="handle"/> until Dispose; <see cref="ObjectDisposedException"/> when it is already closed.</summary>
    /// <returns>The raw handle value, valid until Dispose.</returns>
    public nint Add(SafeHandle handle)
    {
        bool referenced = false;
        handle.DangerousAddRef(ref referenced);
        _held.Add(handle);
        return handle.DangerousGetHandle();
    }

    /// <summary>Releases every reference taken, the last first.</summary>
    public void Dispose()
    {
        for (int i = _held.Count - 1; i >= 0; i--)
        {
            _held[i].DangerousRelease();
        }
        _held.Clear();
    }
}
