namespace Proteus.Bindings;

/// <summary>
/// Writes tests/native/layout_check.g.c: the struct sizes and field offsets the generator computed, as
/// C11 static assertions, so that the C compiler confirms the numbers the C# side is tested against.
/// </summary>
internal static class LayoutCheckWriter
{
    public const string Path = "tests/native/layout_check.g.c";

    public static string Write(HeaderModel model, IReadOnlyDictionary<string, StructLayout> layouts)
    {
        var code = new CodeBuilder()
            .Line(Generator.GeneratedHeader)
            .Line("// Compiled into the native smoke test: fails to compile if a struct of the header does not have the")
            .Line("// size and field offsets that bindings/Proteus.Interop/StructLayouts.g.cs states for the C# side.")
            .Line()
            .Line("#include \"proteus/proteus.h\"")
            .Line("#include <stddef.h>");
        foreach (StructDecl decl in model.Structs)
        {
            StructLayout layout = layouts[decl.Tag];
            code.Line();
            Assert(code, $"sizeof({decl.CSpelling}) == {layout.Size}");
            for (int i = 0; i < decl.Fields.Count; i++)
            {
                Assert(code, $"offsetof({decl.CSpelling}, {decl.Fields[i].CName}) == {layout.FieldOffsets[i]}");
            }
        }
        return code.ToString();
    }

    private static void Assert(CodeBuilder code, string condition) =>
        code.Line($"_Static_assert({condition}, \"{condition}\");");
}
