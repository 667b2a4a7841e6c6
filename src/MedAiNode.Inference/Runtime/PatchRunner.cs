using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MedAiNode.Inference.Runtime;

/// <summary>Runs one batch of patches through a session; float16 models get their tensors converted at the edges.</summary>
public sealed class PatchRunner(LoadedModel model)
{
    /// <summary>Runs the network on <paramref name="input"/> of <paramref name="shape"/> [N, C, D, H, W]; returns the output values and shape.</summary>
    public (float[] Output, long[] Shape) Run(float[] input, long[] shape)
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
                result = new float[span.Length];
                for (var i = 0; i < span.Length; i++) result[i] = (float)span[i];
            }
            else result = o.GetTensorDataAsSpan<float>().ToArray();
            return (result, oshape);
        }
    }
}
