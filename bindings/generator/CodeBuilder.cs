using System.Text;
using System.Text.RegularExpressions;

namespace Proteus.Bindings;

/// <summary>Accumulates a generated file: "\n" line endings whatever the platform, so output is byte-stable.</summary>
internal sealed partial class CodeBuilder
{
    private readonly StringBuilder text = new();

    public CodeBuilder Line(string line = "")
    {
        text.Append(line).Append('\n');
        return this;
    }

    /// <summary>
    /// An XML doc <c>&lt;summary&gt;</c> from a C doc comment, or, for a declaration the header leaves
    /// undocumented, one naming the C declaration it mirrors (the Interop assembly documents every member).
    /// </summary>
    public CodeBuilder Summary(string indent, DocComment doc, string cName)
    {
        if (doc.IsEmpty)
        {
            return Line($"{indent}/// <summary>Mirrors <c>{Xml(cName)}</c>.</summary>");
        }
        if (doc.Lines.Count == 1)
        {
            return Line($"{indent}/// <summary>{Xml(doc.Lines[0])}</summary>");
        }
        Line($"{indent}/// <summary>");
        foreach (string line in doc.Lines)
        {
            Line($"{indent}/// {Xml(line)}".TrimEnd());
        }
        return Line($"{indent}/// </summary>");
    }

    public override string ToString() => text.ToString();

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex CodeSpan();

    /// <summary>Escapes text for XML doc; <c>`name`</c> in the header becomes <c>&lt;c&gt;name&lt;/c&gt;</c>.</summary>
    public static string Xml(string text)
    {
        string escaped = text.Replace("&", "&amp;", StringComparison.Ordinal)
            .Replace("<", "&lt;", StringComparison.Ordinal)
            .Replace(">", "&gt;", StringComparison.Ordinal);
        return CodeSpan().Replace(escaped, "<c>$1</c>");
    }
}
