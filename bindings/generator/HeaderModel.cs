namespace Proteus.Bindings;

/// <summary>A C type the generator knows how to map; anything else is rejected while parsing.</summary>
internal abstract record CType
{
    /// <summary>The type as C spells it, for error messages.</summary>
    public abstract override string ToString();
}

/// <summary>A fixed-width scalar (int32_t, float, char, …): on LP64 its alignment equals its size.</summary>
internal sealed record ScalarType(string CName, string ManagedName, int Size) : CType
{
    public override string ToString() => CName;
}

/// <summary><c>void</c>: only valid as a return type or behind a pointer.</summary>
internal sealed record VoidType : CType
{
    public override string ToString() => "void";
}

/// <summary>A data pointer; <see cref="PointeeIsConst"/> tells an input array from an output slot.</summary>
internal sealed record PointerType(CType Pointee, bool PointeeIsConst) : CType
{
    public override string ToString() => (PointeeIsConst ? "const " : "") + Pointee + "*";
}

/// <summary>
/// A pointer to a C function, named by its typedef (<c>typedef void (*name)(…)</c>): a callback the caller
/// passes in, mapped to an unmanaged function pointer.
/// </summary>
internal sealed record FunctionPointerType(string CName, CType ReturnType, IReadOnlyList<CType> Parameters) : CType
{
    public override string ToString() => CName;
}

/// <summary>A one-dimensional array of known length (struct fields only; parameters decay).</summary>
internal sealed record ArrayType(CType Element, int Length) : CType
{
    public override string ToString() => $"{Element}[{Length}]";
}

internal sealed record EnumType(EnumDecl Decl) : CType
{
    public override string ToString() => Decl.CName;
}

internal sealed record StructType(StructDecl Decl) : CType
{
    public override string ToString() => Decl.CSpelling;
}

/// <summary>An opaque handle: a typedef of a pointer to a struct the header never defines.</summary>
internal sealed record HandleType(HandleDecl Decl) : CType
{
    public override string ToString() => Decl.CName;
}

/// <summary>
/// A struct the header declares but never defines. Only legal behind the pointer of a handle typedef;
/// the parser turns every other use into <see cref="HandleType"/> or an error.
/// </summary>
internal sealed record OpaqueStructType(string Tag) : CType
{
    public override string ToString() => "struct " + Tag;
}

/// <summary>The text of a <c>/** … */</c> comment, one entry per source line, without the comment markers.</summary>
internal sealed record DocComment(IReadOnlyList<string> Lines)
{
    public static readonly DocComment None = new(Array.Empty<string>());

    public bool IsEmpty => Lines.Count == 0;
}

/// <summary><c>#define PROTEUS_NAME integer</c>.</summary>
internal sealed record ConstantDecl(string CName, int Value, DocComment Doc)
{
    public const string Prefix = "PROTEUS_";

    public string ManagedName => Naming.Pascal(CName[Prefix.Length..], CName);
}

internal sealed record EnumMember(string CName, string ManagedName, long Value, DocComment Doc);

/// <summary>A C enum; <see cref="CName"/> is the typedef name when there is one, else the tag.</summary>
internal sealed record EnumDecl(string CName, IReadOnlyList<EnumMember> Members, DocComment Doc)
{
    public string ManagedName => Naming.Pascal(CName, CName);
}

internal sealed record FieldDecl(string CName, CType Type, DocComment Doc)
{
    public string ManagedName => Naming.Pascal(CName, CName);
}

/// <summary>A complete C struct. <see cref="CSpelling"/> is how C code names it (typedef or <c>struct tag</c>).</summary>
internal sealed record StructDecl(string Tag, string? TypedefName, IReadOnlyList<FieldDecl> Fields, DocComment Doc)
{
    public string CSpelling => TypedefName ?? "struct " + Tag;

    public string ManagedName => Naming.Pascal(TypedefName ?? Tag, CSpelling);
}

/// <summary>An opaque handle typedef (<c>typedef struct tag* name</c>) and the function that destroys it.</summary>
internal sealed record HandleDecl(string CName, string Tag, DocComment Doc)
{
    public string ManagedName => Naming.Pascal(CName, CName) + "Handle";

    public string DestroyFunctionName => CName + "_destroy";
}

internal sealed record ParamDecl(string CName, CType Type)
{
    public string ManagedName => Naming.Camel(CName, CName);
}

internal sealed record FunctionDecl(string CName, CType ReturnType, IReadOnlyList<ParamDecl> Parameters, DocComment Doc)
{
    /// <summary>Destroy functions take raw handles: they are what SafeHandle.ReleaseHandle calls.</summary>
    public bool IsDestroy => CName.EndsWith("_destroy", StringComparison.Ordinal);
}

/// <summary>Everything proteus.h declares, in header order.</summary>
internal sealed record HeaderModel(
    IReadOnlyList<ConstantDecl> Constants,
    IReadOnlyList<EnumDecl> Enums,
    IReadOnlyList<StructDecl> Structs,
    IReadOnlyList<HandleDecl> Handles,
    IReadOnlyList<FunctionDecl> Functions)
{
    /// <summary>The enum every function returns; its member of value 0 means success.</summary>
    public const string StatusEnumName = "proteus_status";

    public EnumDecl StatusEnum =>
        Enums.SingleOrDefault(e => e.CName == StatusEnumName)
        ?? throw new BindingsGeneratorException($"the header declares no enum {StatusEnumName}");

    public EnumMember SuccessStatus =>
        StatusEnum.Members.SingleOrDefault(m => m.Value == 0)
        ?? throw new BindingsGeneratorException($"enum {StatusEnumName} has no member of value 0 (success)");

    public FunctionDecl DestroyFunctionOf(HandleDecl handle)
    {
        var destroy = Functions.SingleOrDefault(f => f.CName == handle.DestroyFunctionName)
            ?? throw new BindingsGeneratorException(
                $"handle {handle.CName} has no destroy function {handle.DestroyFunctionName}");
        bool takesHandle = destroy.Parameters.Count == 1
            && destroy.Parameters[0].Type is HandleType h && ReferenceEquals(h.Decl, handle);
        bool returnsStatus = destroy.ReturnType is EnumType e && ReferenceEquals(e.Decl, StatusEnum);
        if (!takesHandle || !returnsStatus)
        {
            throw new BindingsGeneratorException(
                $"{destroy.CName} must be {StatusEnumName} {destroy.CName}({handle.CName}) for SafeHandle to call it");
        }
        return destroy;
    }
}
