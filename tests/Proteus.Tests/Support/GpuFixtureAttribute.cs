using System.Collections.Concurrent;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;
using NUnit.Framework.Internal.Builders;

namespace Proteus.Tests.Support;

/// <summary>
/// In place of <c>[TestFixture]</c> on a fixture whose tests need a CUDA or HIP device. On a machine
/// without one the fixture is built empty: a run neither lists nor runs its tests, so there is no
/// skip notice per test, and <see cref="GpuTestsLeftOut"/> says once per run how many were left out.
/// With a GPU, or when the device query itself fails (the tests then run and report the failure), it is
/// an ordinary fixture, so <c>--filter TestCategory=Gpu</c> and the whole suite with
/// <c>PROTEUS_TEST_BACKEND=cuda</c> run it on the GPU machine as before.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class GpuFixtureAttribute : NUnitAttribute, IFixtureBuilder2
{
    /// <summary>Why the tests were left out.</summary>
    public const string Reason = "no CUDA or HIP device on this machine";

    private static readonly ConcurrentDictionary<string, int> LeftOutByFixture = new();

    private static readonly Lazy<bool> NoGpu = new(() =>
    {
        try
        {
            return TestDevices.FirstGpu() is null;
        }
        catch (Exception)
        {
            return false;  // the native library did not load: build the fixtures, let them fail and say why
        }
    });

    /// <summary>True when the device query worked and found no CUDA or HIP device.</summary>
    public static bool LeavesTestsOut => NoGpu.Value;

    /// <summary>The number of tests left out, over every GPU fixture.</summary>
    public static int LeftOut => LeftOutByFixture.Values.Sum();

    /// <inheritdoc />
    public IEnumerable<TestSuite> BuildFrom(ITypeInfo typeInfo) => BuildFrom(typeInfo, AcceptAll.Instance);

    /// <inheritdoc />
    public IEnumerable<TestSuite> BuildFrom(ITypeInfo typeInfo, IPreFilter filter)
    {
        TestSuite fixture = new NUnitTestFixtureBuilder().BuildFrom(typeInfo, filter);
        if (!LeavesTestsOut)
        {
            return [fixture];
        }
        // An empty list would make NUnit fall back to its default builder: return the fixture emptied.
        LeftOutByFixture[typeInfo.FullName] = fixture.TestCaseCount;
        fixture.Tests.Clear();
        fixture.RunState = RunState.Ignored;
        fixture.Properties.Set(PropertyNames.SkipReason, Reason);
        return [fixture];
    }

    private sealed class AcceptAll : IPreFilter
    {
        public static readonly AcceptAll Instance = new();

        public bool IsMatch(Type type) => true;

        public bool IsMatch(Type type, System.Reflection.MethodInfo method) => true;
    }
}
