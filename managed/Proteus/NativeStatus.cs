using Proteus.Interop;

namespace Proteus;

/// <summary>The one place where a native status becomes a typed exception.</summary>
internal static class NativeStatus
{
    /// <summary>Returns when <paramref name="status"/> is OK; otherwise throws the exception of its kind.</summary>
    /// <remarks>
    /// Must be called right after the native call on the same thread: the details are the calling
    /// thread's last error, which the next failing call overwrites.
    /// </remarks>
    public static void Check(ProteusStatus status)
    {
        if (status != ProteusStatus.Ok)
        {
            throw ToException(status);
        }
    }

    private static unsafe ProteusException ToException(ProteusStatus status)
    {
        ProteusErrorInfo info = default;
        info.StructSize = (uint)sizeof(ProteusErrorInfo);
        bool haveInfo = NativeMethods.proteus_last_error_info(&info) == ProteusStatus.Ok;
        // Read the message last: it is valid only until this thread's next call into the library.
        string nativeMessage = NativeText.FromNullTerminated(NativeMethods.proteus_last_error_message());

        // A status without a matching record would pair this error with an older error's details.
        bool detailsMatch = haveInfo && info.Status == (int)status;
        string message = detailsMatch && nativeMessage.Length > 0
            ? nativeMessage
            : $"libproteus returned {status} without recording a message for it.";
        string? argument = detailsMatch ? NativeText.FromFixed(info.Argument, NativeConstants.ArgumentCapacity) : null;
        ulong requested = detailsMatch ? info.RequestedBytes : 0;
        ulong free = detailsMatch ? info.FreeBytes : 0;

        return status switch
        {
            ProteusStatus.InvalidArgument => new ProteusInvalidArgumentException(message, string.IsNullOrEmpty(argument) ? null : argument),
            ProteusStatus.UnsupportedDtype => new ProteusUnsupportedDTypeException(message),
            ProteusStatus.UnsupportedHeadDim => new ProteusUnsupportedHeadDimException(message),
            ProteusStatus.OutOfMemory => new ProteusOutOfMemoryException(message, requested, free),
            ProteusStatus.DeviceError => new ProteusDeviceException(message),
            ProteusStatus.InvalidHandle => new ProteusInvalidHandleException(message),
            ProteusStatus.DeviceMismatch => new ProteusDeviceMismatchException(message),
            ProteusStatus.BackendUnavailable => new ProteusBackendUnavailableException(message),
            ProteusStatus.InternalError => new ProteusInternalException(message),
            _ => new ProteusException((Status)status, message),
        };
    }
}
