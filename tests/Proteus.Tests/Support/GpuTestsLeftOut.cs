namespace Proteus.Tests.Support;

/// <summary>
/// The one line per run about the GPU-only tests (<see cref="GpuFixtureAttribute"/>): on a machine without a
/// CUDA or HIP device this test is skipped with how many tests were left out and why, in place of a skip
/// notice per test (the runner shows test results only, so the line is a test's result). With a GPU it
/// passes and the GPU tests run.
/// </summary>
[TestFixture]
public sealed class GpuTestsLeftOut
{
    [Test]
    public void GpuTestsRunWhereThereIsAGpu()
    {
        if (GpuFixtureAttribute.LeavesTestsOut)
        {
            Assert.Ignore($"{GpuFixtureAttribute.LeftOut} GPU tests left out: {GpuFixtureAttribute.Reason} " +
                          "(on a GPU machine: --filter TestCategory=Gpu, or the whole suite with PROTEUS_TEST_BACKEND=cuda|hip)");
        }
    }
}
