using MedAiNode.Inference.Manifests;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MedAiNode.Inference.Runtime;

/// <summary>
/// Runs one batch of patches through a model; float16 models get their tensors converted at the edges. An ensemble runs
/// every member and returns the mean of their softmax outputs (channel axis 1).
/// </summary>
public sealed class PatchRunner(LoadedModel model)
{
    private float[] _output = [];
    private float[] _member = [];

    /// <summary>Seconds this runner's runs waited for a free slot of the node's <see cref="InferenceGate"/> (another
    /// analysis's run), so the time a run takes can be told from the time it queued.</summary>
    public double SlotWaitSeconds { get; private set; }

    /// <summary>Seconds this runner's runs took once they had their slot: the network's time, without the queueing.</summary>
    public double RunSeconds { get; private set; }

    /// <summary>
    /// Runs the network on <paramref name="input"/> of <paramref name="shape"/> [N, C, D, H, W]; returns the output values
    /// and shape. The output array is reused by the next call (one patch buffer, not one per patch).
    /// </summary>
    public (float[] Output, long[] Shape) Run(float[] input, long[] shape) => Run(input, shape, ref _output);

    /// <summary>As <see cref="Run(float[], long[])"/>, writing the output into <paramref name="buffer"/> (resized when needed).</summary>
    /// <param name="expectedOutput">The output shape the caller expects, when it knows it: the network then writes into
    /// <paramref name="buffer"/> directly instead of into memory of its own that is copied (for a whole volume, the size
    /// of the output once more). A model whose output has another shape runs again the ordinary way, so the caller's
    /// shape check names what it returned.</param>
    /// <param name="ct">Cancels the wait for the node's run slot, and a run already inside ONNX Runtime (its terminate
    /// flag: the run stops at its next operator). Either way the caller gets OperationCanceledException.</param>
    public (float[] Output, long[] Shape) Run(float[] input, long[] shape, ref float[] buffer, long[]? expectedOutput = null, CancellationToken ct = default)
    {
        // The output buffer is allocated inside the slot too: with two analyses, one run's tensors at a time.
        var waitStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        using var slot = model.Gate.Enter(ct);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        SlotWaitSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(waitStarted, started).TotalSeconds;
        try { return RunInSlot(input, shape, ref buffer, expectedOutput, ct); }
        finally { RunSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds; }
    }

    private (float[] Output, long[] Shape) RunInSlot(float[] input, long[] shape, ref float[] buffer, long[]? expectedOutput, CancellationToken ct)
    {
        if (!model.IsEnsemble && expectedOutput is not null && !model.InputIsFloat16 && !model.OutputIsFloat16)
        {
            var count = checked((int)expectedOutput.Aggregate(1L, (a, b) => a * b));
            var into = Buffer(ref buffer, count);
            try
            {
                using var runOptions = model.NewRunOptions();
                using var stop = StopOnCancel(runOptions, ct);
                using var inValue = OrtValue.CreateTensorValueFromMemory(input, shape);
                using var outValue = OrtValue.CreateTensorValueFromMemory(into, expectedOutput);
                model.Session.Run(runOptions, [model.Manifest.Input.Name], [inValue], [model.Manifest.Output.Name], [outValue]);
                return (into, expectedOutput);
            }
            catch (OnnxRuntimeException) when (!ct.IsCancellationRequested) { } // another output shape: run as usual below
            catch (OnnxRuntimeException) { throw new OperationCanceledException(ct); }
        }
        if (!model.IsEnsemble) return Run(model.Session, input, shape, ref buffer, ct);
        var (sum, oshape) = Run(model.Sessions[0], input, shape, ref buffer, ct);
        var logits = model.Manifest.Output.Kind == OutputKind.Logits;
        if (logits) Softmax(sum, oshape);
        for (var k = 1; k < model.Sessions.Count; k++)
        {
            var (member, mshape) = Run(model.Sessions[k], input, shape, ref _member, ct);
            if (!mshape.SequenceEqual(oshape)) throw new InvalidOperationException($"Model {model.Manifest.Id}: ensemble member {k + 1} returned shape [{string.Join(",", mshape)}], member 1 [{string.Join(",", oshape)}].");
            if (logits) Softmax(member, mshape);
            for (var i = 0; i < sum.Length; i++) sum[i] += member[i];
        }
        var scale = 1f / model.Sessions.Count;
        for (var i = 0; i < sum.Length; i++) sum[i] *= scale;
        return (sum, oshape);
    }

    /// <summary>Softmax over axis 1 of [N, C, ...] in place (max subtracted first, as torch does).</summary>
    internal static void Softmax(float[] v, long[] shape)
    {
        var n = (int)shape[0]; var c = (int)shape[1];
        var inner = v.Length / (n * c);
        for (var b = 0; b < n; b++)
        {
            var baseAt = b * c * inner;
            Parallel.For(0, (inner + 16383) / 16384, block =>
            {
                var end = Math.Min(inner, (block + 1) * 16384);
                for (var i = block * 16384; i < end; i++)
                {
                    var max = float.NegativeInfinity;
                    for (var k = 0; k < c; k++) max = Math.Max(max, v[baseAt + k * inner + i]);
                    var sum = 0f;
                    for (var k = 0; k < c; k++) { var e = MathF.Exp(v[baseAt + k * inner + i] - max); v[baseAt + k * inner + i] = e; sum += e; }
                    var inv = 1f / sum;
                    for (var k = 0; k < c; k++) v[baseAt + k * inner + i] *= inv;
                }
            });
        }
    }

    /// <summary>Sets the run's terminate flag when <paramref name="ct"/> is cancelled (at once if it already is).
    /// Disposed before the options, and its disposal waits for a callback under way.</summary>
    private static CancellationTokenRegistration StopOnCancel(RunOptions options, CancellationToken ct) =>
        ct.Register(static o => ((RunOptions)o!).Terminate = true, options);

    private (float[] Output, long[] Shape) Run(InferenceSession session, float[] input, long[] shape, ref float[] buffer, CancellationToken ct)
    {
        var m = model.Manifest;
        using var runOptions = model.NewRunOptions();
        using var stop = StopOnCancel(runOptions, ct);
        OrtValue inValue;
        if (model.InputIsFloat16)
        {
            var half = new Float16[input.Length];
            for (var i = 0; i < half.Length; i++) half[i] = (Float16)input[i];
            inValue = OrtValue.CreateTensorValueFromMemory(half, shape);
        }
        else inValue = OrtValue.CreateTensorValueFromMemory(input, shape);
        using (inValue)
        {
            IDisposableReadOnlyCollection<OrtValue> outputs;
            try { outputs = session.Run(runOptions, [m.Input.Name], [inValue], [m.Output.Name]); }
            catch (OnnxRuntimeException) when (ct.IsCancellationRequested) { throw new OperationCanceledException(ct); }
            using var _ = outputs;
            var o = outputs[0];
            var info = o.GetTensorTypeAndShape();
            var oshape = info.Shape;
            var result = info.ElementDataType switch
            {
                TensorElementType.Float16 => Widen<Float16>(o, ref buffer, static v => (float)v),
                // Class indices from a graph that ends in its own argmax (output.kind labels).
                TensorElementType.Int64 => Widen<long>(o, ref buffer, static v => v),
                TensorElementType.Int32 => Widen<int>(o, ref buffer, static v => v),
                TensorElementType.UInt8 => Widen<byte>(o, ref buffer, static v => v),
                TensorElementType.Float => Widen<float>(o, ref buffer, static v => v),
                var t => throw new InvalidOperationException($"Model {m.Id}: output element type {t} is not float32, float16 or (for output.kind labels) an integer type."),
            };
            return (result, oshape);
        }
    }

    /// <summary>The element types a labels output may have (scores are float32 or float16 only).</summary>
    internal static readonly TensorElementType[] LabelOutputTypes =
        [TensorElementType.Float, TensorElementType.Float16, TensorElementType.Int64, TensorElementType.Int32, TensorElementType.UInt8];

    private static float[] Widen<TElement>(OrtValue value, ref float[] buffer, Func<TElement, float> convert) where TElement : unmanaged
    {
        var span = value.GetTensorDataAsSpan<TElement>();
        var result = Buffer(ref buffer, span.Length);
        if (typeof(TElement) == typeof(float)) System.Runtime.InteropServices.MemoryMarshal.Cast<TElement, float>(span).CopyTo(result);
        else for (var i = 0; i < span.Length; i++) result[i] = convert(span[i]);
        return result;
    }

    private static float[] Buffer(ref float[] buffer, int length)
    {
        if (buffer.Length != length) buffer = new float[length];
        return buffer;
    }
}
