using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Reflection;

namespace Proteus.Cli;

/// <summary>A bad command line found after parsing (it depends on the device): printed as a usage error, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The entry point: the command tree (System.CommandLine), and the exit codes: 0 success, 1 a runtime
/// error, 2 a bad command line (parse errors, with suggestions for misspelt names, and the checks that
/// need the device).
/// </summary>
internal static class Cli
{
    public const int UsageExitCode = 2;

    /// <summary>Help wraps at this width, also when stdout is not a terminal.</summary>
    private const int HelpWidth = 110;

    /// <summary>The <c>proteus</c> command with <c>info</c>, <c>bench</c> and <c>tune</c>; help and <c>--version</c> write to stdout.</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("proteus: Proteus Flux attention on CUDA, HIP and CPU.")
        {
            InfoCommand.Create(),
            new BenchCommandLine().Command,
            TuneCommand.Create(),
        };
        foreach (VersionOption version in root.Options.OfType<VersionOption>())
        {
            version.Action = new VersionAction();
        }
        foreach (HelpOption help in root.Options.OfType<HelpOption>())
        {
            if (help.Action is HelpAction action)
            {
                action.MaxWidth = HelpWidth;
            }
        }
        return root;
    }

    public static int Run(string[] args)
    {
        ParseResult parsed = CreateRoot().Parse(args);
        if (parsed.Action is ParseErrorAction errors)
        {
            // The errors and the suggestions for misspelt names, not the whole help.
            errors.ShowHelp = false;
        }
        try
        {
            int code = parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
            if (parsed.Errors.Count > 0)
            {
                Console.Error.WriteLine($"Run '{HelpCommand(parsed)} --help' for the options.");
                return UsageExitCode;
            }
            return code;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"proteus: {e.Message}");
            Console.Error.WriteLine($"Run '{HelpCommand(parsed)} --help' for the options.");
            return UsageExitCode;
        }
        catch (Exception e) when (e is ProteusException or DllNotFoundException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"proteus: {e.Message}");
            return 1;
        }
    }

    private static string HelpCommand(ParseResult parsed) =>
        parsed.CommandResult.Command is RootCommand ? "proteus" : $"proteus {parsed.CommandResult.Command.Name}";

    /// <summary><c>--version</c>: the command's version and the native library's, which may differ when PROTEUS_NATIVE_PATH points elsewhere.</summary>
    private sealed class VersionAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            string cli = typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
                ?? typeof(Cli).Assembly.GetName().Version?.ToString() ?? "unknown";
            string native;
            try
            {
                native = $"{ProteusLibrary.Version} ({ProteusLibrary.NativeLibraryPath ?? "found by the operating system's search"})";
            }
            catch (DllNotFoundException e)
            {
                native = $"not found: {e.Message}";
            }
            parseResult.InvocationConfiguration.Output.WriteLine($"proteus {cli}");
            parseResult.InvocationConfiguration.Output.WriteLine($"libproteus {native}");
            return 0;
        }
    }
}
