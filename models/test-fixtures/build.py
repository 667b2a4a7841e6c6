"""Builds the tiny ONNX models the inference unit tests use (run with Debian's python3-onnx: /usr/bin/python3 build.py).

identity2.onnx       [N,1,D,H,W] -> [N,2,D,H,W] logits (-x, x): argmax is x > 0 and channel 1 reproduces the input,
                     so blended sliding-window output must equal the input exactly.
identity2_fp16.onnx  the same with float16 input and output.
sigmoid1.onnx        [N,1,D,H,W] -> [N,1,D,H,W] (x): one sigmoid channel.
valid_box3.onnx      [N,1,D,H,W] -> [N,2,D-2,H-2,W-2] logits (-m, m), m the mean of each 3x3x3 block (no padding):
                     a valid-convolution network with a 1-voxel margin, for tiling with padding.
valid_box3_x2.onnx   the same with logits (-2m, 2m), a second ensemble member whose softmax differs.
argmax2.onnx         [N,1,D,H,W] -> [N,1,D,H,W] int64: identity2's argmax inside the graph (1 where x > 0, else 0), an
                     output.kind labels model.
"""
import os
import onnx
from onnx import helper, TensorProto

here = os.path.dirname(os.path.abspath(__file__))
shape = ["N", 1, "D", "H", "W"]


def save(graph, name):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="medainode-fixtures")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(here, name))


def identity2(dtype, name):
    x = helper.make_tensor_value_info("input", dtype, shape)
    y = helper.make_tensor_value_info("output", dtype, ["N", 2, "D", "H", "W"])
    nodes = [helper.make_node("Neg", ["input"], ["neg"]), helper.make_node("Concat", ["neg", "input"], ["output"], axis=1)]
    save(helper.make_graph(nodes, "identity2", [x], [y]), name)


identity2(TensorProto.FLOAT, "identity2.onnx")
identity2(TensorProto.FLOAT16, "identity2_fp16.onnx")
x = helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)
y = helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)
save(helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "sigmoid1", [x], [y]), "sigmoid1.onnx")


def valid_box3(scale, name):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2, "d", "h", "w"])
    nodes = [helper.make_node("AveragePool", ["input"], ["mean"], kernel_shape=[3, 3, 3], strides=[1, 1, 1])]
    if scale != 1:
        nodes.append(helper.make_node("Constant", [], ["k"], value=helper.make_tensor("k", TensorProto.FLOAT, [], [float(scale)])))
        nodes.append(helper.make_node("Mul", ["mean", "k"], ["m"]))
    else:
        nodes.append(helper.make_node("Identity", ["mean"], ["m"]))
    nodes += [helper.make_node("Neg", ["m"], ["neg"]), helper.make_node("Concat", ["neg", "m"], ["output"], axis=1)]
    save(helper.make_graph(nodes, name.split(".")[0], [x], [y]), name)


valid_box3(1, "valid_box3.onnx")
valid_box3(2, "valid_box3_x2.onnx")


x = helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)
y = helper.make_tensor_value_info("output", TensorProto.INT64, shape)
nodes = [helper.make_node("Neg", ["input"], ["neg"]), helper.make_node("Concat", ["neg", "input"], ["logits"], axis=1),
         helper.make_node("ArgMax", ["logits"], ["output"], axis=1, keepdims=1, select_last_index=0)]
save(helper.make_graph(nodes, "argmax2", [x], [y]), "argmax2.onnx")
