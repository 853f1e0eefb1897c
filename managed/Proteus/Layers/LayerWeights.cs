namespace Proteus;

/// <summary>
/// The layer's and block's weights in safetensors files under the original Python block's parameter names
/// (float32 in the file, converted to the layer's activation type where it keeps them so):
/// <c>ln1.weight [C]</c>, <c>attn.qkv.weight [(H + 2·Hkv)·D, C]</c>, <c>attn.proj.weight [C, C]</c>,
/// <c>attn.head_router.linear.weight [G, C]</c>, <c>attn.routing_prototypes [G, C]</c>,
/// <c>attn.routing_usage_ema [G]</c>, <c>attn.routing_confidence [G]</c>, <c>ln2.weight [C]</c>,
/// <c>mlp.fc1.weight [4C, C]</c>, <c>mlp.fc2.weight [C, 4C]</c>; biases (<c>….bias</c>) with
/// <see cref="ProteusLayerOptions.Bias"/>. The DNA tensors are required with DNA on and ignored with it off
/// (a checkpoint of the Python block always has them).
/// </summary>
public static class LayerWeights
{
    /// <summary>Loads a layer's weights (names under <paramref name="prefix"/>, "attn." in a block checkpoint).</summary>
    /// <exception cref="WeightMismatchException">Missing, unexpected or mis-shaped tensors, all named in one message.</exception>
    public static void Load<T>(ProteusAttentionLayer<T> layer, SafeTensorsFile file, string prefix = "attn.")
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(file);
        new WeightManifest(Expected(layer, prefix, ignoreOthers: true)).Verify(file, prefix);
        foreach ((string name, long[] _, object buffer) in Tensors(layer, prefix))
        {
            Upload(file, name, buffer);
        }
    }

    /// <summary>Loads a block's weights from a checkpoint of the original's AttentionBlock.</summary>
    /// <exception cref="WeightMismatchException">Missing, unexpected or mis-shaped tensors, all named in one message.</exception>
    public static void Load<T>(ProteusBlock<T> block, string path)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(block);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        var expected = new List<ExpectedWeight>(Expected(block.Attention, "attn.", ignoreOthers: false));
        expected.AddRange(BlockTensors(block).Select(t => ExpectedWeight.Required(t.Name, t.Shape)));
        if (block.Attention.Options.Dna is null)
        {
            // A checkpoint of the Python block carries the DNA state even when it is not used.
            expected.AddRange(DnaNames(block.Attention, "attn.").Select(t => ExpectedWeight.Optional(t.Name, t.Shape)));
        }
        new WeightManifest(expected).Verify(file);
        foreach ((string name, long[] _, object buffer) in Tensors(block.Attention, "attn.").Concat(BlockTensors(block)))
        {
            Upload(file, name, buffer);
        }
    }

    /// <summary>Writes a block's weights (float32) under the original's names.</summary>
    public static void Save<T>(ProteusBlock<T> block, string path)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(block);
        block.Device.Synchronize();
        var data = Tensors(block.Attention, "attn.").Concat(BlockTensors(block))
            .Select(t => SafeTensorData.FromFloats(t.Name, t.Shape, Download(t.Buffer)))
            .ToList();
        SafeTensorsFile.Write(path, data, new Dictionary<string, string> { ["format"] = "pt", ["writer"] = "Proteus.Native" });
    }

    /// <summary>Writes a layer's weights (float32) under <paramref name="prefix"/>.</summary>
    public static void Save<T>(ProteusAttentionLayer<T> layer, string path, string prefix = "attn.")
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(layer);
        layer.Device.Synchronize();
        var data = Tensors(layer, prefix).Select(t => SafeTensorData.FromFloats(t.Name, t.Shape, Download(t.Buffer))).ToList();
        SafeTensorsFile.Write(path, data, new Dictionary<string, string> { ["format"] = "pt", ["writer"] = "Proteus.Native" });
    }

    private static IEnumerable<ExpectedWeight> Expected<T>(ProteusAttentionLayer<T> layer, string prefix, bool ignoreOthers)
        where T : unmanaged
    {
        foreach ((string name, long[] shape, object _) in Tensors(layer, prefix))
        {
            yield return ExpectedWeight.Required(name, shape);
        }
        if (ignoreOthers && layer.Options.Dna is null)
        {
            foreach ((string name, long[] shape) in DnaNames(layer, prefix))
            {
                yield return ExpectedWeight.Optional(name, shape);
            }
        }
    }

    private static IEnumerable<(string Name, long[] Shape)> DnaNames<T>(ProteusAttentionLayer<T> layer, string prefix)
        where T : unmanaged
    {
        long c = layer.Options.ModelDim, g = layer.Options.ResolvedGates;
        yield return (prefix + "routing_prototypes", [g, c]);
        yield return (prefix + "routing_usage_ema", [g]);
        yield return (prefix + "routing_confidence", [g]);
    }

    /// <summary>The layer's tensors: name, shape, buffer.</summary>
    private static IEnumerable<(string Name, long[] Shape, object Buffer)> Tensors<T>(ProteusAttentionLayer<T> layer, string prefix)
        where T : unmanaged
    {
        ProteusLayerOptions o = layer.Options;
        long c = o.ModelDim, g = o.ResolvedGates, fused = (o.Heads + 2L * o.ResolvedKvHeads) * o.HeadDim;
        yield return (prefix + "qkv.weight", [fused, c], layer.Qkv);
        if (layer.QkvBias is { } qkvBias)
        {
            yield return (prefix + "qkv.bias", [fused], qkvBias);
        }
        yield return (prefix + "proj.weight", [c, c], layer.Proj);
        if (layer.ProjBias is { } projBias)
        {
            yield return (prefix + "proj.bias", [c], projBias);
        }
        yield return (prefix + "head_router.linear.weight", [g, c], layer.Router);
        if (o.Dna is not null)
        {
            yield return (prefix + "routing_prototypes", [g, c], layer.Prototypes!);
            yield return (prefix + "routing_usage_ema", [g], layer.Usage!);
            yield return (prefix + "routing_confidence", [g], layer.Confidence!);
        }
    }

    private static IEnumerable<(string Name, long[] Shape, object Buffer)> BlockTensors<T>(ProteusBlock<T> block)
        where T : unmanaged
    {
        long c = block.Options.ModelDim;
        yield return ("ln1.weight", [c], block.Norm1Weight);
        if (block.Norm1Bias is { } b1)
        {
            yield return ("ln1.bias", [c], b1);
        }
        yield return ("ln2.weight", [c], block.Norm2Weight);
        if (block.Norm2Bias is { } b2)
        {
            yield return ("ln2.bias", [c], b2);
        }
        yield return ("mlp.fc1.weight", [4 * c, c], block.Fc1);
        if (block.Fc1Bias is { } f1)
        {
            yield return ("mlp.fc1.bias", [4 * c], f1);
        }
        yield return ("mlp.fc2.weight", [c, 4 * c], block.Fc2);
        if (block.Fc2Bias is { } f2)
        {
            yield return ("mlp.fc2.bias", [c], f2);
        }
    }

    private static void Upload(SafeTensorsFile file, string name, object buffer)
    {
        float[] values = file.ReadFloats(name);
        switch (buffer)
        {
            case DeviceBuffer<float> f: f.CopyFrom(values); break;
            case DeviceBuffer<Half> h: h.CopyFrom(ElementConversions.FromSingle<Half>(values)); break;
            case DeviceBuffer<BFloat16> b: b.CopyFrom(ElementConversions.FromSingle<BFloat16>(values)); break;
            default: throw new NotSupportedException($"{name}: a buffer of {buffer.GetType().Name}.");
        }
    }

    private static float[] Download(object buffer) => buffer switch
    {
        DeviceBuffer<float> f => f.ToArray(),
        DeviceBuffer<Half> h => ElementConversions.ToSingle<Half>(h.ToArray()),
        DeviceBuffer<BFloat16> b => ElementConversions.ToSingle<BFloat16>(b.ToArray()),
        _ => throw new NotSupportedException($"A buffer of {buffer.GetType().Name}."),
    };
}
