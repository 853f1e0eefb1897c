using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Proteus.Bindings;

/// <summary>
/// Turns the header's top-level AST nodes into a <see cref="HeaderModel"/>. Whatever it cannot map
/// faithfully to a blittable C# declaration (unions, bitfields, function pointers, layout attributes,
/// unknown types, …) stops generation with an error naming it.
/// </summary>
internal sealed partial class HeaderParser
{
    // The scalars a field or parameter may use. The header sticks to fixed-width types so that the
    // layout is the same on every LP64 target; plain int, long, size_t, … are rejected on purpose.
    private static readonly Dictionary<string, ScalarType> Scalars = new ScalarType[]
    {
        new("int8_t", "sbyte", 1), new("uint8_t", "byte", 1), new("char", "byte", 1),
        new("int16_t", "short", 2), new("uint16_t", "ushort", 2),
        new("int32_t", "int", 4), new("uint32_t", "uint", 4),
        new("int64_t", "long", 8), new("uint64_t", "ulong", 8),
        new("float", "float", 4), new("double", "double", 8),
    }.ToDictionary(s => s.CName, StringComparer.Ordinal);

    // Attributes that leave the ABI of a function as C# sees it unchanged (PROTEUS_API expands to these).
    private static readonly HashSet<string> FunctionAttributes = new(StringComparer.Ordinal)
    {
        "VisibilityAttr", "DLLExportAttr", "DLLImportAttr", "WarnUnusedResultAttr",
    };

    private readonly byte[] header;
    private readonly Dictionary<string, string> typedefNameOfTag = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CType> typedefs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EnumDecl> enumsByTag = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StructDecl> structsByTag = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HandleDecl> handlesByTag = new(StringComparer.Ordinal);
    private readonly HashSet<string> opaqueTags = new(StringComparer.Ordinal);
    private readonly List<EnumDecl> enums = new();
    private readonly List<StructDecl> structs = new();
    private readonly List<HandleDecl> handles = new();
    private readonly List<FunctionDecl> functions = new();

    private HeaderParser(byte[] header)
    {
        this.header = header;
    }

    public static HeaderModel Parse(IReadOnlyList<JsonElement> declarations, byte[] header)
    {
        var parser = new HeaderParser(header);
        parser.CollectTypedefNames(declarations);
        foreach (JsonElement declaration in declarations)
        {
            parser.Add(declaration);
        }
        var model = new HeaderModel(
            HeaderText.IntegerConstants(header), parser.enums, parser.structs, parser.handles, parser.functions);
        foreach (HandleDecl handle in model.Handles)
        {
            model.DestroyFunctionOf(handle);
        }
        return model;
    }

    // `typedef struct x {…} x;` names the struct after its typedef, which is how C code spells it.
    private void CollectTypedefNames(IReadOnlyList<JsonElement> declarations)
    {
        foreach (JsonElement declaration in declarations)
        {
            if (Kind(declaration) != "TypedefDecl")
            {
                continue;
            }
            Match tagged = TaggedType().Match(QualType(declaration));
            if (tagged.Success)
            {
                typedefNameOfTag.TryAdd(tagged.Groups[2].Value, Name(declaration));
            }
        }
    }

    [GeneratedRegex(@"^(struct|enum) ([A-Za-z_]\w*)$")]
    private static partial Regex TaggedType();

    private void Add(JsonElement declaration)
    {
        switch (Kind(declaration))
        {
            case "EnumDecl":
                AddEnum(declaration);
                break;
            case "RecordDecl":
                AddRecord(declaration);
                break;
            case "TypedefDecl":
                AddTypedef(declaration);
                break;
            case "FunctionDecl":
                AddFunction(declaration);
                break;
            default:
                throw Unsupported(declaration, "this kind of declaration has no mapping");
        }
    }

    private void AddEnum(JsonElement node)
    {
        string tag = Name(node);
        if (tag.Length == 0)
        {
            throw Unsupported(node, "anonymous enum: give it a tag so that it has a C# name");
        }
        string cName = typedefNameOfTag.GetValueOrDefault(tag, tag);
        var constants = new List<(string Name, long Value, DocComment Doc)>();
        DocComment doc = DocComment.None;
        long next = 0;
        foreach (JsonElement child in Inner(node))
        {
            switch (Kind(child))
            {
                case "FullComment":
                    doc = Doc(child);
                    break;
                case "EnumConstantDecl":
                    // Enumerators outside int make clang pick a wider or unsigned type: no `: int` enum then.
                    if (QualType(child) != "int")
                    {
                        throw Unsupported(child, $"enumerator of type {QualType(child)}, not int");
                    }
                    // Without an initializer the value is the previous one plus one (C11 6.7.2.2).
                    long value = ConstantValue(child) ?? next;
                    constants.Add((Name(child), value, DocOf(child)));
                    next = value + 1;
                    break;
                default:
                    throw Unsupported(node, $"unexpected {Kind(child)} inside it");
            }
        }

        // Members lose the longest underscore-separated prefix they share, but keep at least one word.
        // A lone member shares everything with itself: it loses only the prefix it shares with the
        // enum's name (PROTEUS_FLUX_QUERY_OFFSET of proteus_flux_tensor_flags → QueryOffset).
        string[][] words = constants.Select(c => c.Name.Split('_')).ToArray();
        if (words.Length == 1)
        {
            words = [words[0], cName.ToUpperInvariant().Split('_')];
        }
        int shared = 0;
        while (shared < words.Min(w => w.Length) - 1 && words.All(w => w[shared] == words[0][shared]))
        {
            shared++;
        }
        var members = constants
            .Select(c => new EnumMember(c.Name, Naming.Pascal(string.Join('_', c.Name.Split('_')[shared..]), c.Name), c.Value, c.Doc))
            .ToList();

        var decl = new EnumDecl(cName, members, doc);
        enumsByTag.Add(tag, decl);
        enums.Add(decl);
    }

    private static long? ConstantValue(JsonElement enumConstant)
    {
        JsonElement? initializer = Inner(enumConstant).Where(c => Kind(c) != "FullComment").Cast<JsonElement?>().FirstOrDefault();
        if (initializer is null)
        {
            return null;
        }
        return EvaluatedValue(initializer.Value)
            ?? throw Unsupported(enumConstant, "its initializer has no evaluated value in the AST");
    }

    // clang stores the evaluated initializer on a ConstantExpr, possibly under implicit casts.
    private static long? EvaluatedValue(JsonElement expression)
    {
        if (Kind(expression) == "ConstantExpr" && expression.TryGetProperty("value", out JsonElement value))
        {
            return long.Parse(value.GetString()!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }
        return Inner(expression).Select(EvaluatedValue).FirstOrDefault(v => v is not null);
    }

    private void AddRecord(JsonElement node)
    {
        string tag = Name(node);
        string tagUsed = node.GetProperty("tagUsed").GetString()!;
        if (tagUsed != "struct")
        {
            throw Unsupported(node, $"{tagUsed}: only structs have a blittable mapping");
        }
        if (tag.Length == 0)
        {
            throw Unsupported(node, "anonymous struct: give it a tag");
        }
        if (!node.TryGetProperty("completeDefinition", out _))
        {
            opaqueTags.Add(tag);
            return;
        }
        if (handlesByTag.ContainsKey(tag))
        {
            throw Unsupported(node, $"struct {tag} is the opaque target of handle {handlesByTag[tag].CName}, yet defined");
        }

        var fields = new List<FieldDecl>();
        DocComment doc = DocComment.None;
        foreach (JsonElement child in Inner(node))
        {
            switch (Kind(child))
            {
                case "FullComment":
                    doc = Doc(child);
                    break;
                case "FieldDecl":
                    fields.Add(Field(tag, child));
                    break;
                case "RecordDecl":
                    throw Unsupported(node, "a struct or union declared inside it: declare it at top level");
                default:
                    throw Unsupported(node, $"{Kind(child)} (packing or alignment attributes change the layout)");
            }
        }
        if (fields.Count == 0)
        {
            throw Unsupported(node, "struct without fields");
        }

        var decl = new StructDecl(tag, typedefNameOfTag.GetValueOrDefault(tag), fields, doc);
        structsByTag.Add(tag, decl);
        structs.Add(decl);
    }

    private FieldDecl Field(string structTag, JsonElement node)
    {
        string where = $"field {Name(node)} of struct {structTag}";
        if (Name(node).Length == 0)
        {
            throw new BindingsGeneratorException($"anonymous member of struct {structTag}");
        }
        if (node.TryGetProperty("isBitfield", out _))
        {
            throw new BindingsGeneratorException($"{where}: bitfield (C# has no layout-compatible equivalent)");
        }
        foreach (JsonElement child in Inner(node))
        {
            if (Kind(child) != "FullComment")
            {
                throw new BindingsGeneratorException($"{where}: {Kind(child)} (alignment attributes change the layout)");
            }
        }
        CType type = ParseType(QualType(node), where);
        RejectOpaque(type, where);
        if (type is VoidType)
        {
            throw new BindingsGeneratorException($"{where}: void has no storage");
        }
        return new FieldDecl(Name(node), type, DocOf(node));
    }

    private void AddTypedef(JsonElement node)
    {
        string name = Name(node);
        Match function = FunctionPointer().Match(QualType(node));
        if (function.Success)
        {
            typedefs.Add(name, ParseFunctionPointer(name, function));
            return;
        }
        CType type = ParseType(QualType(node), $"typedef {name}");
        if (type is PointerType { Pointee: OpaqueStructType opaque })
        {
            var handle = new HandleDecl(name, opaque.Tag, DocOf(node));
            handlesByTag.Add(opaque.Tag, handle);
            handles.Add(handle);
            type = new HandleType(handle);
        }
        typedefs.Add(name, type);
    }

    private void AddFunction(JsonElement node)
    {
        string name = Name(node);
        if (node.TryGetProperty("storageClass", out JsonElement storage) && storage.GetString() != "extern")
        {
            throw Unsupported(node, $"{storage.GetString()} function: only exported functions can be imported");
        }
        if (node.TryGetProperty("inline", out _))
        {
            throw Unsupported(node, "inline function: it is not exported");
        }
        string signature = QualType(node);
        if (signature.Contains("...", StringComparison.Ordinal) || node.TryGetProperty("variadic", out _))
        {
            throw Unsupported(node, "variadic function");
        }
        if (signature.EndsWith("()", StringComparison.Ordinal))
        {
            throw Unsupported(node, "unprototyped function: declare it with (void)");
        }
        if (signature.Contains("(*", StringComparison.Ordinal))
        {
            throw Unsupported(node, $"function pointer or pointer to array in the signature {signature}");
        }
        CType returnType = ParseType(signature[..signature.IndexOf('(')], $"return type of {name}");
        RejectOpaque(returnType, $"return type of {name}");

        var parameters = new List<ParamDecl>();
        DocComment doc = DocComment.None;
        foreach (JsonElement child in Inner(node))
        {
            string kind = Kind(child);
            if (kind == "ParmVarDecl")
            {
                string parameter = Name(child);
                if (parameter.Length == 0)
                {
                    throw new BindingsGeneratorException($"parameter {parameters.Count + 1} of {name} has no name");
                }
                string where = $"parameter {parameter} of {name}";
                CType type = ParseType(QualType(child), where);
                RejectOpaque(type, where);
                parameters.Add(new ParamDecl(parameter, type));
            }
            else if (kind == "FullComment")
            {
                doc = Doc(child);
            }
            else if (!FunctionAttributes.Contains(kind))
            {
                throw Unsupported(node, $"{kind}: not known to leave the function's ABI unchanged");
            }
        }
        functions.Add(new FunctionDecl(name, returnType, parameters, doc));
    }

    // `typedef R (*name)(P1, P2, …)` as clang spells its type: "R (*)(P1, P2, …)".
    [GeneratedRegex(@"^(?<return>[^()]+?)\s*\(\*\)\((?<parameters>[^()]*)\)$")]
    private static partial Regex FunctionPointer();

    // Parameters are scalars, enums and data pointers only: a callback receives what C passes by value.
    private FunctionPointerType ParseFunctionPointer(string name, Match function)
    {
        string where = $"typedef {name}";
        CType returnType = ParseType(function.Groups["return"].Value, $"return type of {where}");
        string list = function.Groups["parameters"].Value.Trim();
        var parameters = new List<CType>();
        if (list != "void")
        {
            foreach (string parameter in list.Split(','))
            {
                CType type = ParseType(parameter.Trim(), $"parameter {parameters.Count + 1} of {where}");
                if (type is StructType or HandleType or FunctionPointerType or VoidType)
                {
                    throw new BindingsGeneratorException($"{where}: parameter type {type} has no mapping in a callback");
                }
                RejectOpaque(type, where);
                parameters.Add(type);
            }
        }
        if (returnType is not (VoidType or ScalarType or EnumType))
        {
            throw new BindingsGeneratorException($"{where}: return type {returnType} has no mapping in a callback");
        }
        return new FunctionPointerType(name, returnType, parameters);
    }

    [GeneratedRegex(@"\G\s*(?:(?<word>[A-Za-z_]\w*)|(?<number>[0-9]+)|(?<punct>[*\[\]()]))")]
    private static partial Regex TypeToken();

    /// <summary>
    /// Parses a clang <c>qualType</c> string: qualifiers, one base type (a scalar, a typedef of this
    /// header, <c>struct tag</c> or <c>enum tag</c>), then <c>*</c>s (each optionally <c>const</c>), then at
    /// most one array extent.
    /// </summary>
    private CType ParseType(string qualType, string where)
    {
        var tokens = new List<string>();
        int position = 0;
        string text = qualType.TrimEnd();
        while (position < text.Length)
        {
            Match token = TypeToken().Match(text, position);
            if (!token.Success)
            {
                throw new BindingsGeneratorException($"{where}: cannot read the type \"{qualType}\" at \"{text[position..]}\"");
            }
            tokens.Add(token.Value.Trim());
            position += token.Length;
        }

        int next = 0;
        bool isConst = false;
        string? tagKind = null;
        string? baseName = null;
        while (next < tokens.Count && (char.IsLetter(tokens[next][0]) || tokens[next][0] == '_'))
        {
            string word = tokens[next++];
            if (word == "const")
            {
                isConst = true;
            }
            else if (word == "volatile")
            {
                throw new BindingsGeneratorException($"{where}: volatile type \"{qualType}\" has no C# mapping");
            }
            else if (baseName is null && tagKind is null && word is "struct" or "enum" or "union")
            {
                tagKind = word;
            }
            else if (baseName is null)
            {
                baseName = word;
            }
            else
            {
                throw new BindingsGeneratorException(
                    $"{where}: unknown type \"{qualType}\"; use the fixed-width types of stdint.h");
            }
        }
        if (baseName is null)
        {
            throw new BindingsGeneratorException($"{where}: no base type in \"{qualType}\"");
        }

        CType type = ResolveBase(tagKind, baseName, qualType, where);
        while (next < tokens.Count && tokens[next] == "*")
        {
            next++;
            type = Pointer(type, isConst);
            isConst = next < tokens.Count && tokens[next] == "const";
            if (isConst)
            {
                next++;
            }
        }
        if (next < tokens.Count && tokens[next] == "[")
        {
            if (next + 2 >= tokens.Count || !char.IsDigit(tokens[next + 1][0]) || tokens[next + 2] != "]")
            {
                throw new BindingsGeneratorException($"{where}: array without a constant extent in \"{qualType}\"");
            }
            int length = int.Parse(tokens[next + 1], CultureInfo.InvariantCulture);
            if (length == 0)
            {
                throw new BindingsGeneratorException($"{where}: zero-length array in \"{qualType}\"");
            }
            type = new ArrayType(type, length);
            next += 3;
        }
        if (next < tokens.Count)
        {
            string rest = string.Join(' ', tokens.Skip(next));
            string what = tokens[next] == "(" ? "function pointer or pointer to array"
                : tokens[next] == "[" ? "multi-dimensional array" : "unexpected tokens";
            throw new BindingsGeneratorException($"{where}: {what} in \"{qualType}\" (at \"{rest}\")");
        }
        return type;
    }

    private CType ResolveBase(string? tagKind, string name, string qualType, string where)
    {
        switch (tagKind)
        {
            case "union":
                throw new BindingsGeneratorException($"{where}: union {name} has no blittable mapping");
            case "struct":
                if (structsByTag.TryGetValue(name, out StructDecl? structDecl))
                {
                    return new StructType(structDecl);
                }
                if (opaqueTags.Contains(name))
                {
                    return new OpaqueStructType(name);
                }
                throw new BindingsGeneratorException($"{where}: struct {name} is not declared in the header");
            case "enum":
                return enumsByTag.TryGetValue(name, out EnumDecl? enumDecl)
                    ? new EnumType(enumDecl)
                    : throw new BindingsGeneratorException($"{where}: enum {name} is not declared in the header");
        }
        if (name == "void")
        {
            return new VoidType();
        }
        if (Scalars.TryGetValue(name, out ScalarType? scalar))
        {
            return scalar;
        }
        if (typedefs.TryGetValue(name, out CType? aliased))
        {
            // `typedef struct x x;` ahead of `struct x {…};` names the struct once it is complete.
            return aliased is OpaqueStructType opaque && structsByTag.TryGetValue(opaque.Tag, out StructDecl? completed)
                ? new StructType(completed)
                : aliased;
        }
        throw new BindingsGeneratorException(
            $"{where}: unknown type \"{qualType}\"; use the fixed-width types of stdint.h or a type of this header");
    }

    // `struct tag*` of a handle's struct is that handle, however it is spelled. A pointer to an opaque
    // struct no handle names is left for the handle typedef being parsed; RejectOpaque refuses it elsewhere.
    private CType Pointer(CType pointee, bool pointeeIsConst) =>
        pointee is OpaqueStructType opaque && handlesByTag.TryGetValue(opaque.Tag, out HandleDecl? handle)
            ? new HandleType(handle)
            : new PointerType(pointee, pointeeIsConst);

    private static void RejectOpaque(CType type, string where)
    {
        switch (type)
        {
            case OpaqueStructType opaque:
                throw new BindingsGeneratorException(
                    $"{where}: struct {opaque.Tag} is opaque and no handle typedef (typedef struct {opaque.Tag}* name) names it");
            case PointerType pointer:
                RejectOpaque(pointer.Pointee, where);
                break;
            case ArrayType array:
                RejectOpaque(array.Element, where);
                break;
        }
    }

    private DocComment DocOf(JsonElement node)
    {
        foreach (JsonElement child in Inner(node))
        {
            if (Kind(child) == "FullComment")
            {
                return Doc(child);
            }
        }
        return DocComment.None;
    }

    private DocComment Doc(JsonElement fullComment) =>
        HeaderText.DocCommentAt(header, fullComment.GetProperty("loc").GetProperty("offset").GetInt32());

    private static BindingsGeneratorException Unsupported(JsonElement node, string why)
    {
        string name = Name(node);
        return new BindingsGeneratorException($"{Kind(node)} {(name.Length > 0 ? name : "<unnamed>")}: {why}");
    }

    private static string Kind(JsonElement node) => node.GetProperty("kind").GetString()!;

    private static string Name(JsonElement node) =>
        node.TryGetProperty("name", out JsonElement name) ? name.GetString()! : "";

    private static string QualType(JsonElement node) => node.GetProperty("type").GetProperty("qualType").GetString()!;

    private static IEnumerable<JsonElement> Inner(JsonElement node) =>
        node.TryGetProperty("inner", out JsonElement inner) ? inner.EnumerateArray() : Enumerable.Empty<JsonElement>();
}
