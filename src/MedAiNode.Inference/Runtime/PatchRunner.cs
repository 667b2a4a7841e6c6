using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MedAiNode.Inference.Runtime;

/// <summary>Runs one batch of patches through a session; float16 models get their tensors converted at the edges.</summary>
public sealed class PatchRunner(LoadedModel model)
{
    private float[] _output = [];

    /// <summary>
    /// Runs the network on <paramref name="input"/> of <paramref name="shape"/> [N, C, D, H, W]; returns the output values
    /// and shape. The output array is reused by the next call (one patch buffer, not one per patch).
    /// </summary>
    public (float[] Output, long[] Shape) Run(float[] input, long[] shape) => Run(input, shape, ref _output);

    /// <summary>As <see cref="Run(float[], long[])"/>, writing the output into <paramref name="buffer"/> (resized when needed).</summary>
    public (float[] Output, long[] Shape) Run(float[] input, long[] shape, ref float[] buffer)
    {
        var m = model.Manifest;
        using var runOptions = new RunOptions();
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
            using var outputs = model.Session.Run(runOptions, [m.Input.Name], [inValue], [m.Output.Name]);
            var o = outputs[0];
            var info = o.GetTensorTypeAndShape();
            var oshape = info.Shape;
            float[] result;
            if (info.ElementDataType == TensorElementType.Float16)
            {
                var span = o.GetTensorDataAsSpan<Float16>();
                result = Buffer(ref buffer, span.Length);
                for (var i = 0; i < span.Length; i++) result[i] = (float)span[i];
            }
            else
            {
                var span = o.GetTensorDataAsSpan<float>();
                result = Buffer(ref buffer, span.Length);
                span.CopyTo(result);
            }
            return (result, oshape);
        }
    }

    private static float[] Buffer(ref float[] buffer, int length)
    {
        if (buffer.Length != length) buffer = new float[length];
        return buffer;
    }
}
