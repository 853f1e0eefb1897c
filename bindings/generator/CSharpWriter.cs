using System.Globalization;

namespace Proteus.Bindings;

/// <summary>
/// Writes the files of bindings/Proteus.Interop (namespace <c>Proteus.Interop</c>) from the header model,
/// following the bindings conventions: C function names unchanged, PascalCase types and members,
/// blittable signatures, SafeHandle classes for the opaque handles.
/// </summary>
internal static class CSharpWriter
{
    private const string Namespace = "Proteus.Interop";
    private const string LibraryName = "proteus";
    private const string NativeMethodsClass = "NativeMethods";

    /// <summary>File name (within bindings/Proteus.Interop) → content.</summary>
    public static IEnumerable<(string Name, string Content)> Write(HeaderModel model, IReadOnlyDictionary<string, StructLayout> layouts)
    {
        yield return ("NativeConstants.g.cs", NativeConstants(model));
        yield return ("Enums.g.cs", Enums(model));
        yield return ("Structs.g.cs", Structs(model));
        yield return ("Handles.g.cs", Handles(model));
        yield return ("NativeMethods.g.cs", NativeMethods(model));
        yield return ("StructLayouts.g.cs", StructLayouts(model, layouts));
    }

    private static CodeBuilder Begin(params string[] usings)
    {
        var code = new CodeBuilder().Line(Generator.GeneratedHeader).Line();
        // Generated files default to a disabled nullable context; the Interop assembly keeps it on.
        code.Line("#nullable enable").Line();
        foreach (string ns in usings)
        {
            code.Line($"using {ns};");
        }
        if (usings.Length > 0)
        {
            code.Line();
        }
        return code.Line($"namespace {Namespace};").Line();
    }

    private static string NativeConstants(HeaderModel model)
    {
        CodeBuilder code = Begin();
        code.Line("/// <summary>The integer <c>#define PROTEUS_*</c> constants of proteus.h, without the prefix.</summary>");
        code.Line("public static class NativeConstants").Line("{");
        Separated(code, model.Constants, constant =>
        {
            code.Summary("    ", constant.Doc, constant.CName);
            code.Line($"    public const int {constant.ManagedName} = {Invariant(constant.Value)};");
        });
        return code.Line("}").ToString();
    }

    private static string Enums(HeaderModel model)
    {
        CodeBuilder code = Begin();
        Separated(code, model.Enums, decl =>
        {
            code.Summary("", decl.Doc, decl.CName);
            code.Line($"public enum {decl.ManagedName} : int").Line("{");
            Separated(code, decl.Members, member =>
            {
                code.Summary("    ", member.Doc, member.CName);
                code.Line($"    {member.ManagedName} = {Invariant(member.Value)},");
            });
            code.Line("}");
        });
        return code.ToString();
    }

    private static string Structs(HeaderModel model)
    {
        CodeBuilder code = Begin("System.Runtime.InteropServices");
        Separated(code, model.Structs, decl =>
        {
            code.Summary("", decl.Doc, decl.CSpelling);
            code.Line("[StructLayout(LayoutKind.Sequential)]");
            code.Line($"public unsafe partial struct {decl.ManagedName}").Line("{");
            Separated(code, decl.Fields, field =>
            {
                code.Summary("    ", field.Doc, $"{decl.CSpelling}.{field.CName}");
                code.Line($"    {FieldDeclaration(decl, field)};");
            });
            code.Line("}");
        });
        return code.ToString();
    }

    private static string Handles(HeaderModel model)
    {
        CodeBuilder code = Begin("System.Runtime.InteropServices");
        string success = $"{model.StatusEnum.ManagedName}.{model.SuccessStatus.ManagedName}";
        Separated(code, model.Handles, handle =>
        {
            FunctionDecl destroy = model.DestroyFunctionOf(handle);
            code.Summary("", handle.Doc, handle.CName);
            code.Line($"/// <remarks>Owns one <c>{handle.CName}</c>; releasing it calls <c>{destroy.CName}</c>.</remarks>");
            code.Line($"public sealed partial class {handle.ManagedName} : SafeHandle").Line("{");
            code.Line("    /// <summary>An invalid (null) handle; the LibraryImport marshaller sets it from an <c>out</c> parameter.</summary>");
            code.Line($"    public {handle.ManagedName}()");
            code.Line("        : base(nint.Zero, ownsHandle: true)");
            code.Line("    {").Line("    }").Line();
            code.Line("    /// <inheritdoc/>");
            code.Line("    public override bool IsInvalid => handle == nint.Zero;").Line();
            code.Line("    /// <inheritdoc/>");
            code.Line($"    protected override bool ReleaseHandle() => {NativeMethodsClass}.{destroy.CName}(handle) == {success};");
            code.Line("}");
        });
        return code.ToString();
    }

    private static string NativeMethods(HeaderModel model)
    {
        CodeBuilder code = Begin("System.Runtime.InteropServices");
        code.Line("/// <summary>The functions of proteus.h under their C names, imported with LibraryImport (blittable signatures).</summary>");
        code.Line($"public static unsafe partial class {NativeMethodsClass}").Line("{");
        code.Line("    /// <summary>The native library, as the runtime probes it: libproteus.so, proteus.dll, libproteus.dylib.</summary>");
        code.Line($"    public const string LibraryName = \"{LibraryName}\";");
        foreach (FunctionDecl function in model.Functions)
        {
            string parameters = string.Join(", ", function.Parameters.Select(p => $"{ParameterType(function, p)} {p.ManagedName}"));
            code.Line();
            code.Summary("    ", function.Doc, function.CName);
            code.Line("    [LibraryImport(LibraryName)]");
            code.Line($"    public static partial {ReturnType(function)} {function.CName}({parameters});");
        }
        return code.Line("}").ToString();
    }

    private static string StructLayouts(HeaderModel model, IReadOnlyDictionary<string, StructLayout> layouts)
    {
        CodeBuilder code = Begin();
        code.Line("/// <summary>Offset of one field of a C struct.</summary>");
        code.Line("/// <param name=\"NativeName\">The C field name.</param>");
        code.Line("/// <param name=\"ManagedName\">The C# field name (what <c>Marshal.OffsetOf</c> takes).</param>");
        code.Line("/// <param name=\"Offset\">Bytes from the start of the struct.</param>");
        code.Line("public sealed record FieldLayoutInfo(string NativeName, string ManagedName, int Offset);").Line();
        code.Line("/// <summary>Size and field offsets of one C struct and the C# struct that mirrors it.</summary>");
        code.Line("/// <param name=\"NativeName\">The C type name.</param>");
        code.Line("/// <param name=\"ManagedType\">The C# struct.</param>");
        code.Line("/// <param name=\"Size\">sizeof in bytes, tail padding included.</param>");
        code.Line("/// <param name=\"Fields\">Every field, in declaration order.</param>");
        code.Line("public sealed record StructLayoutInfo(string NativeName, Type ManagedType, int Size, IReadOnlyList<FieldLayoutInfo> Fields);").Line();
        code.Line("/// <summary>");
        code.Line("/// The layout of every struct of proteus.h, computed by bindings/generator from the C layout rules of");
        code.Line("/// LP64 targets (x86-64, AArch64). tests/native/layout_check.g.c asserts the same numbers in C; the");
        code.Line("/// managed tests compare them with the CLR's layout of the C# structs.");
        code.Line("/// </summary>");
        code.Line("public static class StructLayouts").Line("{");
        code.Line("    /// <summary>Every struct, in header order.</summary>");
        code.Line("    public static IReadOnlyList<StructLayoutInfo> All { get; } =").Line("    [");
        foreach (StructDecl decl in model.Structs)
        {
            StructLayout layout = layouts[decl.Tag];
            code.Line($"        new(\"{decl.CSpelling}\", typeof({decl.ManagedName}), {layout.Size},").Line("        [");
            for (int i = 0; i < decl.Fields.Count; i++)
            {
                FieldDecl field = decl.Fields[i];
                code.Line($"            new(\"{field.CName}\", \"{field.ManagedName}\", {layout.FieldOffsets[i]}),");
            }
            code.Line("        ]),");
        }
        code.Line("    ];");
        return code.Line("}").ToString();
    }

    // A field: `public <type> Name` or, for an array of scalars, `public fixed <type> Name[N]`.
    private static string FieldDeclaration(StructDecl decl, FieldDecl field)
    {
        string where = $"field {field.CName} of {decl.CSpelling}";
        string declaration = field.Type switch
        {
            ArrayType { Element: ScalarType scalar } array => $"fixed {scalar.ManagedName} {field.ManagedName}[{array.Length}]",
            ArrayType array => throw new BindingsGeneratorException(
                $"{where}: array of {array.Element} has no fixed-buffer mapping (only arrays of scalars)"),
            // Handles inside structs are borrowed, not owned: a raw value, not a SafeHandle.
            HandleType => $"nint {field.ManagedName}",
            _ => $"{ValueType(field.Type, where)} {field.ManagedName}",
        };
        if (field.ManagedName == decl.ManagedName)
        {
            throw new BindingsGeneratorException($"{where}: its C# name equals the struct's ({decl.ManagedName})");
        }
        return "public " + declaration;
    }

    private static string ParameterType(FunctionDecl function, ParamDecl parameter)
    {
        string where = $"parameter {parameter.CName} of {function.CName}";
        return parameter.Type switch
        {
            // Destroy functions are called from SafeHandle.ReleaseHandle with the raw handle.
            HandleType when function.IsDestroy => "nint",
            HandleType handle => handle.Decl.ManagedName,
            PointerType { Pointee: HandleType handle, PointeeIsConst: false } => $"out {handle.Decl.ManagedName}",
            PointerType { Pointee: HandleType handle } => throw new BindingsGeneratorException(
                $"{where}: const {handle.Decl.CName}* (an array of handles) has no mapping"),
            _ => ValueType(parameter.Type, where),
        };
    }

    private static string ReturnType(FunctionDecl function) => function.ReturnType switch
    {
        VoidType => "void",
        HandleType handle => handle.Decl.ManagedName,
        _ => ValueType(function.ReturnType, $"return type of {function.CName}"),
    };

    // Scalars, enums, structs by value, and unsafe pointers to any of them (a handle behind a pointer,
    // other than an out parameter, is a raw nint).
    private static string ValueType(CType type, string where) => type switch
    {
        ScalarType scalar => scalar.ManagedName,
        EnumType e => e.Decl.ManagedName,
        StructType s => s.Decl.ManagedName,
        PointerType pointer => Pointee(pointer.Pointee, where) + "*",
        FunctionPointerType function => "delegate* unmanaged[Cdecl]<"
            + string.Concat(function.Parameters.Select(p => ValueType(p, where) + ", "))
            + (function.ReturnType is VoidType ? "void" : ValueType(function.ReturnType, where)) + ">",
        _ => throw new BindingsGeneratorException($"{where}: {type} has no mapping here"),
    };

    private static string Pointee(CType type, string where) => type switch
    {
        VoidType => "void",
        HandleType => "nint",
        _ => ValueType(type, where),
    };

    // Values may be negative, and the current culture's minus sign need not be "-".
    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Separated<T>(CodeBuilder code, IReadOnlyList<T> items, Action<T> write)
    {
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                code.Line();
            }
            write(items[i]);
        }
    }
}
