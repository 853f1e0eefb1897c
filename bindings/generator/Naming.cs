using System.Text;

namespace Proteus.Bindings;

/// <summary>C snake_case names to C# names (the conventions in the bindings section of the plan).</summary>
internal static class Naming
{
    // C# reserved keywords: a C parameter named like one gets an @ prefix.
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class",
        "const", "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event",
        "explicit", "extern", "false", "finally", "fixed", "float", "for", "foreach", "goto", "if",
        "implicit", "in", "int", "interface", "internal", "is", "lock", "long", "namespace", "new", "null",
        "object", "operator", "out", "override", "params", "private", "protected", "public", "readonly",
        "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string", "struct",
        "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe",
        "ushort", "using", "virtual", "void", "volatile", "while",
    };

    /// <summary><c>flux_params</c> → <c>FluxParams</c>, <c>BFLOAT16</c> → <c>Bfloat16</c>.</summary>
    /// <param name="snake">The C name, or the part of it left after a prefix is removed.</param>
    /// <param name="origin">The full C name, for the error message.</param>
    public static string Pascal(string snake, string origin)
    {
        var result = new StringBuilder(snake.Length);
        foreach (string word in snake.Split('_', StringSplitOptions.RemoveEmptyEntries))
        {
            result.Append(char.ToUpperInvariant(word[0])).Append(word[1..].ToLowerInvariant());
        }
        if (result.Length == 0 || !char.IsLetter(result[0]))
        {
            throw new BindingsGeneratorException(
                $"{origin} gives the C# name \"{result}\", which is not an identifier; rename it in the header");
        }
        return result.ToString();
    }

    /// <summary><c>destination_offset</c> → <c>destinationOffset</c>; <c>params</c> → <c>@params</c>.</summary>
    public static string Camel(string snake, string origin)
    {
        string pascal = Pascal(snake, origin);
        string camel = char.ToLowerInvariant(pascal[0]) + pascal[1..];
        return Keywords.Contains(camel) ? "@" + camel : camel;
    }
}
