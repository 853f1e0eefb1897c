using System.Runtime.InteropServices;
using Proteus.Tests.Support;

namespace Proteus.Tests.Flux;

/// <summary>
/// What one flux attention call left on the device: o and lse in logical order, and how the call
/// treated memory it was not meant to touch.
/// </summary>
public sealed record FluxResult(
    double[] Output,
    double[]? Lse,
    int UnwrittenOutputs,
    int StrayOutputWrites,
    int UnwrittenLse,
    int StrayLseWrites,
    IReadOnlyList<string> ChangedInputs)
{
    /// <summary>The kernel that computed the call (the library's run info).</summary>
    public FluxKernel Kernel { get; init; }
}

/// <summary>Runs a <see cref="FluxProblem"/> on a device through the managed API, in the case's layout.</summary>
public static class FluxRun
{
    /// <summary>
    /// Places the inputs in the case's layout (NaN in every padding element), poisons o and lse with NaN,
    /// runs flux attention and reads everything back.
    /// </summary>
    public static FluxResult On(Device device, FluxProblem problem) => problem.Case.DType switch
    {
        DType.Float32 => On<float>(device, problem),
        DType.Float16 => On<Half>(device, problem),
        DType.BFloat16 => On<BFloat16>(device, problem),
        _ => throw new ArgumentOutOfRangeException(nameof(problem), problem.Case.DType, "not a storage dtype"),
    };

    private static FluxResult On<T>(Device device, FluxProblem problem) where T : unmanaged
    {
        var c = problem.Case;
        var x = problem.Inputs;
        var random = new Random(c.Seed * 31 + 7);
        var owned = new List<IDisposable>();
        try
        {
            TensorView<E> View<E>(params long[] shape) where E : unmanaged =>
                Views.Create<E>(device, owned, shape, padded: c.Layout == StorageLayout.PaddedView, random);

            TensorView<T> q, k, v, o;
            if (c.Layout == StorageLayout.FusedQkv)
            {
                var qkv = Own(owned, device.Allocate<T>((long)c.Batch * c.SeqLen * (c.Heads + 2 * c.KvHeads) * c.HeadDim));
                (q, k, v) = TensorLayouts.FusedQkv(qkv, c.Batch, c.SeqLen, c.Heads, c.KvHeads, c.HeadDim);
                o = TensorLayouts.Bthd(Own(owned, device.Allocate<T>((long)c.Batch * c.SeqLen * c.Heads * c.HeadDim)), c.Batch, c.SeqLen, c.Heads, c.HeadDim);
            }
            else if (c.Layout == StorageLayout.Bthd)
            {
                TensorView<T> Tokens(int heads) => TensorLayouts.Bthd(Own(owned, device.Allocate<T>((long)c.Batch * c.SeqLen * heads * c.HeadDim)), c.Batch, c.SeqLen, heads, c.HeadDim);
                (q, k, v, o) = (Tokens(c.Heads), Tokens(c.KvHeads), Tokens(c.KvHeads), Tokens(c.Heads));
            }
            else if (c.Layout == StorageLayout.BroadcastKeyValue)
            {
                TensorView<T> Shared() => new(Own(owned, device.Allocate<T>((long)c.KvHeads * c.SeqLen * c.HeadDim)),
                    [c.Batch, c.KvHeads, c.SeqLen, c.HeadDim], [0, (long)c.SeqLen * c.HeadDim, c.HeadDim, 1]);
                TensorView<T> Heads() => TensorLayouts.Bhtd(Own(owned, device.Allocate<T>((long)c.Batch * c.Heads * c.SeqLen * c.HeadDim)), c.Batch, c.Heads, c.SeqLen, c.HeadDim);
                (q, k, v, o) = (Heads(), Shared(), Shared(), Heads());
            }
            else
            {
                // Bhtd through the layout helper, PaddedView through explicit strides.
                TensorView<T> Heads(int heads) => c.Layout == StorageLayout.Bhtd
                    ? TensorLayouts.Bhtd(Own(owned, device.Allocate<T>((long)c.Batch * heads * c.SeqLen * c.HeadDim)), c.Batch, heads, c.SeqLen, c.HeadDim)
                    : View<T>(c.Batch, heads, c.SeqLen, c.HeadDim);
                (q, k, v, o) = (Heads(c.Heads), Heads(c.KvHeads), Heads(c.KvHeads), Heads(c.Heads));
            }

            // Inputs: every buffer's host image is NaN except the view's elements (fused q, k, v share one).
            var images = new Dictionary<DeviceBuffer<T>, T[]>(ReferenceEqualityComparer.Instance);
            void Scatter(TensorView<T> view, double[] values)
            {
                if (!images.TryGetValue(view.Buffer, out var image))
                {
                    image = new T[view.Buffer.Length];
                    Array.Fill(image, Element<T>.NaN);
                    images.Add(view.Buffer, image);
                }
                var positions = HostView.Positions(view);
                for (long n = 0; n < positions.Length; n++)
                {
                    image[positions[n]] = Element<T>.FromDouble(values[n]);
                }
            }
            Scatter(q, x.Query);
            Scatter(k, x.Key);
            Scatter(v, x.Value);
            foreach (var (buffer, image) in images)
            {
                buffer.CopyFrom(image);
            }

            TensorView<byte>? active = null;
            if (problem.ActiveMask is { } mask)
            {
                // Padding reads as "active", so a kernel that reads it instead of the mask computes an inactive row.
                active = Upload(View<byte>(c.Batch, c.Heads, c.SeqLen), mask, padding: (byte)0x5A);
            }
            TensorView<float>? salience = null;
            if (problem.Salience is { } salienceValues)
            {
                salience = Upload(View<float>(c.Batch, c.SeqLen), salienceValues, padding: float.NaN);
            }
            TensorView<float>? lse = null;
            if (c.WithLse)
            {
                lse = View<float>(c.Batch, c.Heads, c.SeqLen);
                lse.Value.Buffer.Fill(float.NaN);
            }
            o.Buffer.Fill(Element<T>.NaN);

            var inputs = new FluxInputs<T>
            {
                Query = q, Key = k, Value = v, Output = o, Active = active, Salience = salience, Lse = lse, ActiveDensity = c.ActiveDensity,
            };
            var attention = new FluxAttention(device);
            FluxRunInfo ran = attention.Run(inputs, c.Parameters, LaunchFor(device, attention, inputs, c));
            device.Synchronize();

            var (output, unwrittenOutputs, strayOutputWrites) = Gather(o, Element<T>.ToDouble);
            double[]? lseValues = null;
            int unwrittenLse = 0, strayLseWrites = 0;
            if (lse is { } lseView)
            {
                (lseValues, unwrittenLse, strayLseWrites) = Gather(lseView, value => (double)value);
            }
            var changed = images
                .Where(pair => !MemoryMarshal.AsBytes(pair.Key.ToArray().AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(pair.Value.AsSpan())))
                .Select(pair => c.Layout == StorageLayout.FusedQkv ? "qkv" : pair.Key == q.Buffer ? "q" : pair.Key == k.Buffer ? "k" : "v")
                .ToList();
            return new FluxResult(output, lseValues, unwrittenOutputs, strayOutputWrites, unwrittenLse, strayLseWrites, changed) { Kernel = ran.Kernel };
        }
        finally
        {
            foreach (var buffer in owned)
            {
                buffer.Dispose();
            }
        }
    }

    private static DeviceBuffer<E> Own<E>(List<IDisposable> owned, DeviceBuffer<E> buffer) where E : unmanaged
    {
        owned.Add(buffer);
        return buffer;
    }

    /// <summary>Writes <paramref name="values"/> into the view's elements and <paramref name="padding"/> everywhere else.</summary>
    private static TensorView<E> Upload<E>(TensorView<E> view, E[] values, E padding) where E : unmanaged
    {
        var image = new E[view.Buffer.Length];
        Array.Fill(image, padding);
        var positions = HostView.Positions(view);
        for (long n = 0; n < positions.Length; n++)
        {
            image[positions[n]] = values[n];
        }
        view.Buffer.CopyFrom(image);
        return view;
    }

    /// <summary>
    /// The view's elements in logical order, how many are still NaN (never written), and how many
    /// elements outside the view are no longer NaN (written by mistake).
    /// </summary>
    /// <summary>
    /// The launch configuration to run the case with. The CPU backend runs its reference only and takes
    /// the default alone, so a case's mode and launch are for the GPU backend. There a case's explicit
    /// configuration is run as given; a mode alone is run when the library offers it for the problem
    /// (<see cref="FluxAttention.LaunchCandidates{T}"/>), and otherwise must be rejected naming
    /// <c>launch.mode</c> (an explicit mode is never silently replaced), after which the case runs AUTO.
    /// </summary>
    private static LaunchConfig? LaunchFor<T>(Device device, FluxAttention attention, FluxInputs<T> inputs, FluxCase c)
        where T : unmanaged
    {
        if (device.Backend == Backend.Cpu)
        {
            return null;
        }
        if (c.Launch is { } explicitLaunch)
        {
            return explicitLaunch;
        }
        if (c.LaunchMode == LaunchMode.Auto)
        {
            return null;
        }
        var launch = new LaunchConfig { Mode = c.LaunchMode };
        if (attention.LaunchCandidates(inputs, c.Parameters).Any(offered => offered.Mode == c.LaunchMode))
        {
            return launch;
        }
        var exception = Assert.Throws<ProteusInvalidArgumentException>(() => attention.Run(inputs, c.Parameters, launch),
            $"{c.LaunchMode} is not offered for {c}, so it must be rejected");
        Assert.That(exception!.ArgumentName, Is.EqualTo("launch.mode"));
        return null;
    }

    private static (double[] Values, int Unwritten, int Stray) Gather<E>(TensorView<E> view, Func<E, double> widen) where E : unmanaged
    {
        var image = view.Buffer.ToArray();
        var positions = HostView.Positions(view);
        var inView = new bool[image.Length];
        var values = new double[positions.Length];
        int unwritten = 0;
        for (long n = 0; n < positions.Length; n++)
        {
            inView[positions[n]] = true;
            values[n] = widen(image[positions[n]]);
            if (double.IsNaN(values[n]))
            {
                unwritten++;
            }
        }
        int stray = 0;
        for (long n = 0; n < image.Length; n++)
        {
            if (!inView[n] && !double.IsNaN(widen(image[n])))
            {
                stray++;
            }
        }
        return (values, unwritten, stray);
    }
}
