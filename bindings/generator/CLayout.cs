namespace Proteus.Bindings;

/// <summary>Size, alignment and field offsets of a struct.</summary>
internal sealed record StructLayout(int Size, int Alignment, IReadOnlyList<int> FieldOffsets);

/// <summary>
/// C struct layout for the LP64 ABIs the library ships on (x86-64 System V, AArch64 AAPCS64): every
/// scalar, enum and pointer aligned to its size, arrays to their element, a struct to its strictest
/// member; each field at the next offset its alignment allows; the size rounded up to the alignment.
/// The numbers are checked against the C compiler by tests/native/layout_check.g.c and against the
/// CLR's sequential layout by the managed layout tests.
/// </summary>
internal static class CLayout
{
    private const int PointerSize = 8;
    private const int EnumSize = 4;  // every enumerator fits int (checked by the parser)

    /// <summary>The layout of every struct of the model, by tag.</summary>
    public static IReadOnlyDictionary<string, StructLayout> Compute(HeaderModel model)
    {
        var layouts = new Dictionary<string, StructLayout>(StringComparer.Ordinal);
        // Header order: C needs a struct complete before another holds it by value.
        foreach (StructDecl decl in model.Structs)
        {
            int offset = 0;
            int alignment = 1;
            var offsets = new List<int>(decl.Fields.Count);
            foreach (FieldDecl field in decl.Fields)
            {
                (int size, int fieldAlignment) = SizeAndAlignment(field.Type, layouts);
                offset = AlignUp(offset, fieldAlignment);
                offsets.Add(offset);
                offset += size;
                alignment = Math.Max(alignment, fieldAlignment);
            }
            layouts.Add(decl.Tag, new StructLayout(AlignUp(offset, alignment), alignment, offsets));
        }
        return layouts;
    }

    private static (int Size, int Alignment) SizeAndAlignment(CType type, Dictionary<string, StructLayout> layouts)
    {
        switch (type)
        {
            case ScalarType scalar:
                return (scalar.Size, scalar.Size);
            case EnumType:
                return (EnumSize, EnumSize);
            case PointerType or HandleType or FunctionPointerType:
                return (PointerSize, PointerSize);
            case ArrayType array:
                (int size, int alignment) = SizeAndAlignment(array.Element, layouts);
                return (checked(size * array.Length), alignment);
            case StructType nested:
                StructLayout layout = layouts[nested.Decl.Tag];
                return (layout.Size, layout.Alignment);
            default:
                throw new BindingsGeneratorException($"no storage layout for {type}");
        }
    }

    private static int AlignUp(int value, int alignment) => (value + alignment - 1) / alignment * alignment;
}
