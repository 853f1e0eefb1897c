using Proteus.Tests.Support;

namespace Proteus.Tests.Layer;

/// <summary>
/// The base of the layer operations' validation tests: a device, fresh tensors per test, and the checks
/// that a bad argument is rejected with its typed exception naming it, before anything is written.
/// </summary>
public abstract class LayerValidationFixture
{
    /// <summary>What every output starts as; a rejected call must leave it.</summary>
    protected const float Poison = -7.25f;

    /// <summary>What every byte output starts as.</summary>
    protected const byte BytePoison = 0xA5;

    protected Device Device { get; private set; } = null!;

    protected LayerOps Ops { get; private set; } = null!;

    protected LayerTensors Tensors { get; private set; } = null!;

    [OneTimeSetUp]
    public void OpenDevice()
    {
        Device = TestDevices.OpenUnderTest();
        Ops = new LayerOps(Device);
    }

    [OneTimeTearDown]
    public void CloseDevice() => Device.Dispose();

    [SetUp]
    public void CreateTensors() => Tensors = new LayerTensors(Device);

    [TearDown]
    public void DisposeTensors() => Tensors.Dispose();

    /// <summary>The call throws <typeparamref name="TException"/> with a message and writes none of the outputs.</summary>
    protected TException Rejected<TException>(Action call)
        where TException : ProteusException
    {
        var exception = Assert.Throws<TException>(call);
        Assert.That(exception.Message, Is.Not.Empty);
        Tensors.AssertOutputsUntouched();
        return exception;
    }

    /// <summary>The call is rejected as an invalid argument naming <paramref name="argumentName"/>, writing nothing.</summary>
    protected void InvalidArgument(Action call, string argumentName)
    {
        var exception = Rejected<ProteusInvalidArgumentException>(call);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(exception.ArgumentName, Is.EqualTo(argumentName));
            Assert.That(exception.Message, Does.Contain(argumentName));
        }
    }

    /// <summary>The call is rejected for the dtype of <paramref name="argumentName"/>, writing nothing.</summary>
    protected void UnsupportedDType(Action call, string argumentName) =>
        Assert.That(Rejected<ProteusUnsupportedDTypeException>(call).Message, Does.Contain(argumentName));

    /// <summary>The call is rejected for a buffer of another device, writing nothing.</summary>
    protected void DeviceMismatch(Action call, string argumentName) =>
        Assert.That(Rejected<ProteusDeviceMismatchException>(call).Message, Does.Contain(argumentName));

    /// <summary>A float32 input on a second device of the backend under test (freed with the device).</summary>
    protected static TensorView<float> Elsewhere(Device other, params long[] shape) =>
        new(other.Upload<float>(new float[shape.Aggregate(1L, (a, e) => a * e)]), shape);
}
