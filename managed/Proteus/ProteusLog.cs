using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Proteus.Interop;

namespace Proteus;

/// <summary>
/// The library's logging: <see cref="ProteusLibrary.Logger"/> receives the native library's messages
/// (through its C log callback) and the managed library's own (the tuning cache). Off while no logger is set.
/// </summary>
internal static class ProteusLog
{
    private static readonly Lock Gate = new();
    private static volatile ILogger? s_logger;

    public static ILogger? Logger
    {
        get => s_logger;
        set
        {
            lock (Gate)
            {
                s_logger = value;
                Install(value);
            }
        }
    }

    /// <summary>Logs <paramref name="message"/> at <paramref name="level"/> when a logger is set and takes that level.</summary>
    public static void Write(LogLevel level, string message)
    {
        ILogger? logger = s_logger;
        if (logger is not null && logger.IsEnabled(level))
        {
            logger.Log(level, "{Message}", message);
        }
    }

    // The native side reports to a static function (nothing to keep alive), which reads the logger now set.
    private static unsafe void Install(ILogger? logger)
    {
        ProteusLogLevel minimum = logger is null ? ProteusLogLevel.None : MinimumLevel(logger);
        delegate* unmanaged[Cdecl]<int, byte*, void*, void> callback =
            minimum == ProteusLogLevel.None ? null : &OnNativeMessage;
        NativeStatus.Check(NativeMethods.proteus_set_log_callback(callback, null, (int)minimum));
    }

    /// <summary>The lowest native level the logger takes (None when it takes none).</summary>
    private static ProteusLogLevel MinimumLevel(ILogger logger)
    {
        foreach (ProteusLogLevel level in new[] { ProteusLogLevel.Debug, ProteusLogLevel.Info, ProteusLogLevel.Warning, ProteusLogLevel.Error })
        {
            if (logger.IsEnabled(ToLogLevel(level)))
            {
                return level;
            }
        }
        return ProteusLogLevel.None;
    }

    internal static LogLevel ToLogLevel(ProteusLogLevel level) => level switch
    {
        ProteusLogLevel.Debug => LogLevel.Debug,
        ProteusLogLevel.Info => LogLevel.Information,
        ProteusLogLevel.Warning => LogLevel.Warning,
        _ => LogLevel.Error,
    };

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe void OnNativeMessage(int level, byte* message, void* userData)
    {
        try
        {
            string text = message is null ? "" : Marshal.PtrToStringUTF8((nint)message) ?? "";
            Write(ToLogLevel((ProteusLogLevel)level), "libproteus: " + text);
        }
        catch (Exception)
        {
            // An exception must not unwind into native code; a logger that throws loses the message.
        }
    }
}
