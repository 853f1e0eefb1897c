using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Proteus.Interop;

namespace Proteus.Tests.Bindings;

/// <summary>The checked-in bindings are what the generator makes of the header, and their structs match C.</summary>
[TestFixture]
[Category("Bindings")]
public sealed class BindingsTests
{
    private static string RepositoryRoot => Proteus.Bindings.Generator.FindRepositoryRoot(AppContext.BaseDirectory);

    [Test]
    public void CheckedInBindingsEqualAFreshGenerationByteForByte()
    {
        if (!IsOnPath("clang-14"))
        {
            Assert.Ignore("clang-14 is not installed; the generator needs it to read the header");
        }
        string root = RepositoryRoot;
        var generated = Proteus.Bindings.Generator.Generate(root);

        Assert.That(generated.Keys, Has.Some.StartsWith("bindings/Proteus.Interop/"));
        foreach (var (path, content) in generated)
        {
            string file = Path.Combine(root, path);
            Assert.That(File.Exists(file), Is.True, $"{path} is generated but not checked in; run: dotnet run --project bindings/generator");
            Assert.That(File.ReadAllBytes(file), Is.EqualTo(Encoding.UTF8.GetBytes(content)),
                $"{path} differs from a fresh generation; run: dotnet run --project bindings/generator");
        }
        var leftOver = Directory.EnumerateFiles(Path.Combine(root, Proteus.Bindings.Generator.InteropDirectory), "*.g.cs")
            .Select(file => Path.GetRelativePath(root, file).Replace('\\', '/'))
            .Where(path => !generated.ContainsKey(path));
        Assert.That(leftOver, Is.Empty, "generated-looking files the generator no longer writes");
    }

    public static IEnumerable<TestCaseData> Structs() =>
        StructLayouts.All.Select(layout => new TestCaseData(layout).SetArgDisplayNames(layout.NativeName));

    [TestCaseSource(nameof(Structs))]
    public void ManagedStructHasTheSizeAndFieldOffsetsOfTheCStruct(StructLayoutInfo layout)
    {
        var sizeOf = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(layout.ManagedType);
        using (Assert.EnterMultipleScope())
        {
            Assert.That((int)sizeOf.Invoke(null, null)!, Is.EqualTo(layout.Size), "Unsafe.SizeOf");
            Assert.That(Marshal.SizeOf(layout.ManagedType), Is.EqualTo(layout.Size), "Marshal.SizeOf");
            foreach (var field in layout.Fields)
            {
                Assert.That((int)Marshal.OffsetOf(layout.ManagedType, field.ManagedName), Is.EqualTo(field.Offset), $"{layout.NativeName}.{field.NativeName}");
            }
        }
        var declared = layout.ManagedType.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).Select(f => f.Name);
        Assert.That(declared, Is.EquivalentTo(layout.Fields.Select(f => f.ManagedName)), "every C field has a managed field and no more");
    }

    [Test]
    public void EveryStructOfTheBindingsHasALayoutEntry()
    {
        var structs = typeof(StructLayouts).Assembly.GetExportedTypes()
            .Where(type => type.IsValueType && !type.IsEnum && type.Namespace == typeof(StructLayouts).Namespace && type.Name.StartsWith("Proteus", StringComparison.Ordinal));
        Assert.That(structs, Is.EquivalentTo(StructLayouts.All.Select(layout => layout.ManagedType)));
    }

    private static bool IsOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, program)));
}
