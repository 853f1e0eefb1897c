using System.Globalization;

namespace Proteus.Cli;

/// <summary>A bad command line: printed with the usage hint, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The options after the command name, as <c>--name value</c>, <c>--name=value</c> or <c>--flag</c>.
/// Each command takes what it knows and then calls <see cref="RejectUnknown"/>, so a misspelt
/// option is an error rather than silently ignored.
/// </summary>
internal sealed class CommandLine
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);

    public CommandLine(IEnumerable<string> arguments)
    {
        using IEnumerator<string> items = arguments.GetEnumerator();
        string? pending = null;  // an option still waiting for its value
        while (items.MoveNext())
        {
            string item = items.Current;
            if (item.StartsWith("--", StringComparison.Ordinal))
            {
                if (pending != null)
                {
                    _options[pending] = null;
                }
                int equals = item.IndexOf('=', StringComparison.Ordinal);
                string name = equals < 0 ? item[2..] : item[2..equals];
                if (name.Length == 0 || _options.ContainsKey(name))
                {
                    throw new UsageException(name.Length == 0 ? "an empty option name (--)" : $"--{name} given twice");
                }
                if (equals < 0)
                {
                    pending = name;
                }
                else
                {
                    _options[name] = item[(equals + 1)..];
                    pending = null;
                }
            }
            else if (item == "-h")
            {
                _options["help"] = null;
            }
            else if (pending != null)
            {
                _options[pending] = item;
                pending = null;
            }
            else
            {
                throw new UsageException($"unexpected argument '{item}'");
            }
        }
        if (pending != null)
        {
            _options[pending] = null;
        }
    }

    /// <summary>Whether the flag is present; a flag takes no value.</summary>
    public bool Flag(string name)
    {
        if (!_options.Remove(name, out string? value))
        {
            return false;
        }
        return value == null ? true : throw new UsageException($"--{name} takes no value");
    }

    /// <summary>The option's text, or null when absent.</summary>
    public string? Text(string name)
    {
        if (!_options.Remove(name, out string? value))
        {
            return null;
        }
        return value ?? throw new UsageException($"--{name} needs a value");
    }

    /// <summary>The option as an integer within [<paramref name="minimum"/>, <paramref name="maximum"/>], or null when absent.</summary>
    public long? Integer(string name, long minimum, long maximum = long.MaxValue) =>
        Text(name) is { } text ? ParseInteger(name, text, minimum, maximum) : null;

    /// <summary>The option as a comma-separated list of integers, each within the range, or null when absent.</summary>
    public long[]? IntegerList(string name, long minimum, long maximum = long.MaxValue) =>
        Text(name) is { } text
            ? text.Split(',', StringSplitOptions.TrimEntries).Select(item => ParseInteger(name, item, minimum, maximum)).ToArray()
            : null;

    /// <summary>
    /// The option as a real number in (<paramref name="above"/>, <paramref name="atMost"/>], written as a
    /// decimal ("0.2") or a fraction ("1/64"); null when absent.
    /// </summary>
    public double? Real(string name, double above, double atMost)
    {
        if (Text(name) is not { } text)
        {
            return null;
        }
        string[] parts = text.Split('/', StringSplitOptions.TrimEntries);
        double value = parts.Length switch
        {
            1 => ParseReal(name, parts[0]),
            2 => ParseReal(name, parts[0]) / ParseReal(name, parts[1]),
            _ => throw new UsageException($"--{name} takes a number or a fraction p/q, not '{text}'"),
        };
        if (!(value > above && value <= atMost))
        {
            throw new UsageException($"--{name} must be in ({above}, {atMost}], not {text}");
        }
        return value;
    }

    /// <summary>The option as one of <paramref name="choices"/> (by name, case-insensitive), or null when absent.</summary>
    public T? Choice<T>(string name, IReadOnlyDictionary<string, T> choices)
        where T : struct
    {
        if (Text(name) is not { } text)
        {
            return null;
        }
        return choices.TryGetValue(text.ToLowerInvariant(), out T value)
            ? value
            : throw new UsageException($"--{name} must be one of {string.Join(", ", choices.Keys)}, not '{text}'");
    }

    /// <summary>Fails on any option no one has taken.</summary>
    public void RejectUnknown()
    {
        if (_options.Count > 0)
        {
            throw new UsageException($"unknown option{(_options.Count > 1 ? "s" : "")} {string.Join(", ", _options.Keys.Select(name => "--" + name))}");
        }
    }

    private static double ParseReal(string name, string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value)
            ? value
            : throw new UsageException($"--{name} takes a number or a fraction p/q, not '{text}'");

    private static long ParseInteger(string name, string text, long minimum, long maximum)
    {
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
        {
            throw new UsageException($"--{name} takes integers, not '{text}'");
        }
        if (value < minimum || value > maximum)
        {
            throw new UsageException(maximum == long.MaxValue
                ? $"--{name} must be ≥ {minimum}, not {value}"
                : $"--{name} must be in [{minimum}, {maximum}], not {value}");
        }
        return value;
    }
}
