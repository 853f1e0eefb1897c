using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Proteus.Bindings;

/// <summary>
/// What the AST does not carry: the integer <c>#define</c>s (macros never reach the AST) and the raw text
/// of doc comments (clang's FullComment nodes locate them; the text is taken from the header itself so
/// that nothing in it is reinterpreted as a Doxygen command).
/// </summary>
internal static partial class HeaderText
{
    [GeneratedRegex(@"^\s*#\s*define\s+(PROTEUS_[A-Za-z0-9_]+)\s+(-?[0-9]+)\s*$")]
    private static partial Regex IntegerDefine();

    /// <summary>Every <c>#define PROTEUS_NAME integer</c>, with the doc comment that ends on the line before it.</summary>
    public static IReadOnlyList<ConstantDecl> IntegerConstants(byte[] header)
    {
        string[] lines = Encoding.UTF8.GetString(header).Split('\n');
        var constants = new List<ConstantDecl>();
        DocComment pendingDoc = DocComment.None;
        int pendingDocEndLine = -1;
        for (int i = 0; i < lines.Length; i++)
        {
            int docStart = lines[i].IndexOf("/**", StringComparison.Ordinal);
            if (docStart >= 0 && lines[i][..docStart].Trim().Length == 0)
            {
                var body = new StringBuilder(lines[i][(docStart + 3)..]);
                while (!body.ToString().Contains("*/", StringComparison.Ordinal) && i + 1 < lines.Length)
                {
                    body.Append('\n').Append(lines[++i]);
                }
                string text = body.ToString();
                int end = text.IndexOf("*/", StringComparison.Ordinal);
                if (end < 0)
                {
                    throw new BindingsGeneratorException("unterminated /** comment at the end of the header");
                }
                pendingDoc = Normalize(text[..end]);
                pendingDocEndLine = i;
                continue;
            }

            Match define = IntegerDefine().Match(lines[i]);
            if (!define.Success)
            {
                continue;
            }
            string name = define.Groups[1].Value;
            if (!int.TryParse(define.Groups[2].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value))
            {
                throw new BindingsGeneratorException($"#define {name} {define.Groups[2].Value} does not fit a 32-bit int");
            }
            constants.Add(new ConstantDecl(name, value, pendingDocEndLine == i - 1 ? pendingDoc : DocComment.None));
        }
        return constants;
    }

    /// <summary>The doc comment whose text starts at byte <paramref name="offset"/> (just after <c>/**</c>).</summary>
    public static DocComment DocCommentAt(byte[] header, int offset)
    {
        int length = header.AsSpan(offset).IndexOf("*/"u8);
        if (length < 0)
        {
            throw new BindingsGeneratorException($"no end of the doc comment at byte {offset} of the header");
        }
        return Normalize(Encoding.UTF8.GetString(header, offset, length));
    }

    // Strips the leading " * " of continuation lines and blank edges; inner blank lines separate paragraphs.
    private static DocComment Normalize(string body)
    {
        var lines = new List<string>();
        foreach (string raw in body.Split('\n'))
        {
            string line = raw.Trim();
            if (line.StartsWith('*'))
            {
                line = line[1..].Trim();
            }
            lines.Add(line);
        }
        int first = lines.FindIndex(l => l.Length > 0);
        if (first < 0)
        {
            return DocComment.None;
        }
        int last = lines.FindLastIndex(l => l.Length > 0);
        return new DocComment(lines.GetRange(first, last - first + 1));
    }
}
