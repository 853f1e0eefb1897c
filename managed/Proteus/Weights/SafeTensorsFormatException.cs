namespace Proteus;

/// <summary>
/// A safetensors file is not well formed: its header length, JSON, a dtype, a shape or the layout of the data.
/// The message names the file and, where one is at fault, the tensor.
/// </summary>
/// <remarks>
/// An <see cref="IOException"/>, so one <c>catch</c> around loading weights handles a file that cannot be read, one
/// that is malformed and one that holds the wrong tensors (<see cref="WeightMismatchException"/>). Not a
/// <see cref="ProteusException"/>, which carries the status libproteus returned (there is none here), and not an
/// <see cref="InvalidDataException"/>, which is sealed.
/// </remarks>
public sealed class SafeTensorsFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="filePath">The file that was read.</param>
    /// <param name="tensorName">The tensor at fault, or null when the problem is the file's.</param>
    /// <param name="problem">What is wrong, as a clause ("header length 900 is larger than the file").</param>
    /// <param name="innerException">The parser's exception, when there was one.</param>
    public SafeTensorsFormatException(string filePath, string? tensorName, string problem, Exception? innerException = null)
        : base($"{filePath}: not a valid safetensors file: " + (tensorName is null ? problem : $"tensor \"{tensorName}\": {problem}"),
               innerException)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The file that was read.</summary>
    public string FilePath { get; }

    /// <summary>The tensor at fault, or null when the problem is the file's (its length, its header as a whole).</summary>
    public string? TensorName { get; }
}
