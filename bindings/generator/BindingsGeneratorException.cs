namespace Proteus.Bindings;

/// <summary>
/// The header holds something the generator cannot map faithfully (a union, a bitfield, a function
/// pointer, an unknown type, …), or clang failed. The message names the construct.
/// </summary>
public sealed class BindingsGeneratorException : Exception
{
    /// <summary>Creates the exception with a message naming the offending construct.</summary>
    public BindingsGeneratorException(string message)
        : base(message)
    {
    }
}
