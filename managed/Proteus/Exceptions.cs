namespace Proteus;

/// <summary>
/// An error reported by libproteus: the <see cref="Status"/> it returned and its message. Each status
/// has its own derived type, so callers catch what they can handle (for example
/// <see cref="ProteusOutOfMemoryException"/>) and let the rest through.
/// </summary>
public class ProteusException : Exception
{
    /// <summary>Creates an exception for a status the library returned.</summary>
    /// <param name="status">The status; never <see cref="Status.Ok"/>.</param>
    /// <param name="message">The library's message.</param>
    public ProteusException(Status status, string message)
        : base(message)
    {
        Status = status;
    }

    /// <summary>The status the native call returned.</summary>
    public Status Status { get; }
}

/// <summary>An argument was rejected: a shape, stride, range, budget or aliasing error.</summary>
public sealed class ProteusInvalidArgumentException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message, which says what is wrong.</param>
    /// <param name="argumentName">The offending argument as the library names it ("q.strides", "params.window"), or null.</param>
    public ProteusInvalidArgumentException(string message, string? argumentName)
        : base(Status.InvalidArgument, message)
    {
        ArgumentName = argumentName;
    }

    /// <summary>The offending argument as the library names it ("q.strides", "params.window"), or null when it did not say.</summary>
    public string? ArgumentName { get; }
}

/// <summary>The element type is not supported by the operation.</summary>
public sealed class ProteusUnsupportedDTypeException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message.</param>
    public ProteusUnsupportedDTypeException(string message)
        : base(Status.UnsupportedDType, message)
    {
    }
}

/// <summary>The head dim is not one the library supports (8, 16, 32, 64, 80, 96, 128, 256).</summary>
public sealed class ProteusUnsupportedHeadDimException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message.</param>
    public ProteusUnsupportedHeadDimException(string message)
        : base(Status.UnsupportedHeadDim, message)
    {
    }
}

/// <summary>A device allocation (a buffer or an operation's workspace) failed.</summary>
public sealed class ProteusOutOfMemoryException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message.</param>
    /// <param name="requestedBytes">The bytes the failed allocation asked for.</param>
    /// <param name="freeBytes">The bytes free on the device (within the device's limit) when it failed.</param>
    public ProteusOutOfMemoryException(string message, ulong requestedBytes, ulong freeBytes)
        : base(Status.OutOfMemory, message)
    {
        RequestedBytes = requestedBytes;
        FreeBytes = freeBytes;
    }

    /// <summary>The bytes the failed allocation asked for.</summary>
    public ulong RequestedBytes { get; }

    /// <summary>The bytes free on the device (within the device's limit) when it failed.</summary>
    public ulong FreeBytes { get; }
}

/// <summary>The device or its runtime reported an error.</summary>
public sealed class ProteusDeviceException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message, with the runtime's own error text.</param>
    public ProteusDeviceException(string message)
        : base(Status.DeviceError, message)
    {
    }
}

/// <summary>A native handle was null, already destroyed, or not one of the library's.</summary>
public sealed class ProteusInvalidHandleException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message.</param>
    public ProteusInvalidHandleException(string message)
        : base(Status.InvalidHandle, message)
    {
    }
}

/// <summary>A buffer of one <see cref="Device"/> was passed to an operation on another.</summary>
public sealed class ProteusDeviceMismatchException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message, naming the buffer.</param>
    public ProteusDeviceMismatchException(string message)
        : base(Status.DeviceMismatch, message)
    {
    }
}

/// <summary>The backend is not compiled into this libproteus, or has no device with that ordinal.</summary>
public sealed class ProteusBackendUnavailableException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message.</param>
    public ProteusBackendUnavailableException(string message)
        : base(Status.BackendUnavailable, message)
    {
    }
}

/// <summary>A bug in libproteus; please report it with the message.</summary>
public sealed class ProteusInternalException : ProteusException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The library's message.</param>
    public ProteusInternalException(string message)
        : base(Status.InternalError, message)
    {
    }
}
