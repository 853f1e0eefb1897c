using System.Text;

namespace Proteus;

/// <summary>A tensor a layer expects among its weights: its name and shape, and whether it may be absent.</summary>
public sealed class ExpectedWeight
{
    private ExpectedWeight(string name, ReadOnlySpan<long> shape, bool isOptional)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (long dim in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(dim, nameof(shape));
        }
        Name = name;
        Shape = Array.AsReadOnly(shape.ToArray());
        IsOptional = isOptional;
    }

    /// <summary>The tensor's name ("attn.qkv.weight").</summary>
    public string Name { get; }

    /// <summary>The dimensions it must have; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Whether the weights may lack it (a bias the model was built without); when present, its shape must match.</summary>
    public bool IsOptional { get; }

    /// <summary>A tensor that must be present with this shape.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="shape">Its dimensions, each ≥ 0.</param>
    /// <returns>The expectation.</returns>
    public static ExpectedWeight Required(string name, params ReadOnlySpan<long> shape) => new(name, shape, isOptional: false);

    /// <summary>A tensor that may be absent, but when present has this shape.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="shape">Its dimensions, each ≥ 0.</param>
    /// <returns>The expectation.</returns>
    public static ExpectedWeight Optional(string name, params ReadOnlySpan<long> shape) => new(name, shape, isOptional: true);

    /// <summary>The expectation as text.</summary>
    /// <returns>For example <c>ln1.bias [1024] (optional)</c>.</returns>
    public override string ToString() => $"{Name} {SafeTensorInfo.FormatShape(Shape)}{(IsOptional ? " (optional)" : "")}";
}

/// <summary>
/// The tensors a layer's weights must hold, by name and shape: <see cref="Verify"/> checks a file against them and
/// reports every missing, unexpected and mis-shaped tensor in one exception, so a wrong checkpoint is diagnosed in one
/// run rather than one name at a time.
/// </summary>
public sealed class WeightManifest
{
    private readonly Dictionary<string, ExpectedWeight> _byName;

    /// <summary>Creates the manifest.</summary>
    /// <param name="weights">The expected tensors, with distinct names; the order is the order of the report.</param>
    /// <exception cref="ArgumentException">Two expectations have the same name.</exception>
    public WeightManifest(IEnumerable<ExpectedWeight> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ExpectedWeight[] list = weights.ToArray();
        _byName = new Dictionary<string, ExpectedWeight>(StringComparer.Ordinal);
        foreach (ExpectedWeight weight in list)
        {
            if (!_byName.TryAdd(weight.Name, weight))
            {
                throw new ArgumentException($"The manifest names \"{weight.Name}\" twice.", nameof(weights));
            }
        }
        Weights = Array.AsReadOnly(list);
    }

    /// <summary>The expected tensors, in the order given.</summary>
    public IReadOnlyList<ExpectedWeight> Weights { get; }

    /// <summary>Checks that <paramref name="file"/> holds exactly the expected tensors with the expected shapes.</summary>
    /// <param name="file">The weights.</param>
    /// <param name="namePrefix">
    /// Only the file's tensors whose names start with this are checked for being unexpected (a layer's
    /// weights inside a whole block's checkpoint); null or empty: all of them.
    /// </param>
    /// <exception cref="WeightMismatchException">
    /// A required tensor is missing, the file holds a tensor the manifest does not name, or a tensor's shape differs;
    /// the exception lists all of them.
    /// </exception>
    public void Verify(SafeTensorsFile file, string? namePrefix = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        var missing = new List<string>();
        var misshaped = new List<string>();
        var report = new StringBuilder();
        foreach (ExpectedWeight weight in Weights)
        {
            if (!file.Contains(weight.Name))
            {
                if (!weight.IsOptional)
                {
                    missing.Add(weight.Name);
                    report.Append($"\n  missing     {weight.Name}: expected {SafeTensorInfo.FormatShape(weight.Shape)}");
                }
                continue;
            }
            IReadOnlyList<long> found = file.GetInfo(weight.Name).Shape;
            if (!found.SequenceEqual(weight.Shape))
            {
                misshaped.Add(weight.Name);
                report.Append($"\n  mis-shaped  {weight.Name}: expected {SafeTensorInfo.FormatShape(weight.Shape)}, found {SafeTensorInfo.FormatShape(found)}");
            }
        }
        var unexpected = new List<string>();
        foreach (SafeTensorInfo tensor in file.Tensors.Where(tensor =>
                     !_byName.ContainsKey(tensor.Name) && (string.IsNullOrEmpty(namePrefix) || tensor.Name.StartsWith(namePrefix, StringComparison.Ordinal))))
        {
            unexpected.Add(tensor.Name);
            report.Append($"\n  unexpected  {tensor.Name} {SafeTensorInfo.FormatShape(tensor.Shape)}");
        }
        if (report.Length > 0)
        {
            throw new WeightMismatchException(file.FilePath, missing, unexpected, misshaped,
                $"{file.FilePath} does not hold the expected weights ({missing.Count} missing, {unexpected.Count} unexpected, {misshaped.Count} mis-shaped):{report}");
        }
    }
}

/// <summary>
/// A weights file is well formed but does not hold the tensors a <see cref="WeightManifest"/> expects. The message
/// lists every problem with the expected and found shapes; the properties give the names. An <see cref="IOException"/>
/// for the reason <see cref="SafeTensorsFormatException"/> is one.
/// </summary>
public sealed class WeightMismatchException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="filePath">The weights file.</param>
    /// <param name="missing">Required tensors the file lacks.</param>
    /// <param name="unexpected">Tensors in the file that the manifest does not name.</param>
    /// <param name="misshaped">Tensors whose shape differs from the expected one.</param>
    /// <param name="message">The report.</param>
    public WeightMismatchException(string filePath, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> misshaped, string message)
        : base(message)
    {
        FilePath = filePath;
        Missing = missing;
        Unexpected = unexpected;
        Misshaped = misshaped;
    }

    /// <summary>The weights file.</summary>
    public string FilePath { get; }

    /// <summary>Required tensors the file lacks, in manifest order.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Tensors in the file that the manifest does not name, by name.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Tensors whose shape differs from the expected one, in manifest order.</summary>
    public IReadOnlyList<string> Misshaped { get; }
}
