"""An int8 graph's one-channel first convolutions, each split into an exact pair that runs faster.

A k x k convolution of a one-channel image becomes a k x 1 convolution that copies k shifted rows into
k channels (weights 1, scale 1, output quantized as the input: each value passes through unchanged)
and a 1 x k convolution over those channels with the original int8 weights rearranged. The integer
sums are the same, so every output is bit for bit the same; LiteRT's int8 kernels do little per cycle
with one input channel and much more with k, so the pair costs less (docs/experiments.md).

    python -m fkd.train.conv_split models/     # the folder's int8 graphs, checked, then replaced
"""

import os

import click
import numpy as np

from ..errors import FkdError, RunError
from ..manifest import MANIFEST, load_manifest, write_json

CHECK_CROPS = 32   # random crops on which a split graph must answer bit for bit as the original


def is_row_copy(filter_values, bias_values):
    """Whether a (k, k, 1, 1) int8 filter and its bias are a split's first half: weight 1 at (r, r), else 0."""
    k = filter_values.shape[0]
    return (filter_values.shape == (k, k, 1, 1) and not bias_values.any()
            and np.array_equal(filter_values[:, :, 0, 0], np.eye(k, dtype=filter_values.dtype)))


def _one_channel_convs(model, graph, schema):
    """The stride-1, undilated CONV_2D operators whose filter is k x k (k > 1) over one int8 input channel."""
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != schema.BuiltinOperator.CONV_2D:
            continue
        x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
        o = op.builtinOptions
        if x.type == schema.TensorType.INT8 and w.shape[3] == 1 and w.shape[1] > 1 and w.shape[1] == w.shape[2] \
                and (o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor) == (1, 1, 1, 1):
            yield op


def _tensor(schema, graph, model, name, shape, dtype, scale, zero_point, data=None, signature=None):
    buf = schema.BufferT()
    if data is not None:
        buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
    model.buffers.append(buf)
    t = schema.TensorT()
    t.name, t.shape, t.type, t.buffer = name.encode(), np.array(shape, np.int32), dtype, len(model.buffers) - 1
    if signature is not None:
        t.shapeSignature = np.array(signature, np.int32)
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint, q.quantizedDimension = list(scale), list(zero_point), 0
    t.quantization = q
    graph.tensors.append(t)
    return len(graph.tensors) - 1


def split_first_convs(tflite_bytes):
    """The graph with each one-channel k x k int8 convolution split; (new bytes, how many were split)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite_bytes))
    graph = model.subgraphs[0]
    ops = list(_one_channel_convs(model, graph, schema))
    # a filter is rearranged in place, so every operator using it must be one of those split
    uses = [op.inputs[1] for op in graph.operators if len(op.inputs) > 1]
    ops = [op for op in ops if uses.count(op.inputs[1]) == sum(o.inputs[1] == op.inputs[1] for o in ops)]
    rearranged = set()
    new_ops = []
    for op in ops:
        x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
        o = op.builtinOptions
        k = int(w.shape[2])   # kx: the same before and after a shared filter is rearranged
        sx, zx = float(x.quantization.scale[0]), int(x.quantization.zeroPoint[0])
        # k x 1, weight 1 at row r for output channel r: channel r holds the input shifted by r rows
        rows = np.zeros((k, k, 1, 1), np.int8)
        rows[np.arange(k), np.arange(k)] = 1
        rows_t = _tensor(schema, graph, model, f"{op.inputs[0]}_rows_filter", rows.shape, schema.TensorType.INT8,
                         [1.0] * k, [0] * k, rows)
        bias_t = _tensor(schema, graph, model, f"{op.inputs[0]}_rows_bias", [k], schema.TensorType.INT32,
                         [sx] * k, [0] * k, np.zeros(k, np.int32))
        sig = x.shapeSignature
        shifted = _tensor(schema, graph, model, f"{op.inputs[0]}_rows", list(x.shape[:3]) + [k], schema.TensorType.INT8,
                          [sx], [zx], signature=None if sig is None else list(sig[:3]) + [k])
        first = schema.OperatorT()
        first.opcodeIndex, first.inputs, first.outputs = op.opcodeIndex, [op.inputs[0], rows_t, bias_t], [shifted]
        opts = schema.Conv2DOptionsT()
        opts.padding = o.padding
        opts.strideH = opts.strideW = opts.dilationHFactor = opts.dilationWFactor = 1
        opts.fusedActivationFunction = schema.ActivationFunctionType.NONE
        first.builtinOptionsType, first.builtinOptions = schema.BuiltinOptions.Conv2DOptions, opts
        if op.inputs[1] not in rearranged:
            # the original filter (out, ky, kx, 1) read as (out, 1, kx, ky): row ky now comes from channel ky
            buf = model.buffers[w.buffer]
            weights = np.frombuffer(bytes(buf.data), np.int8).reshape(w.shape)
            buf.data = np.frombuffer(np.ascontiguousarray(weights.transpose(0, 3, 2, 1)).tobytes(), np.uint8)
            w.shape = np.array([w.shape[0], 1, k, k], np.int32)
            rearranged.add(op.inputs[1])
        op.inputs = [shifted] + list(op.inputs[1:])
        new_ops.append((op, first))
    for op, first in new_ops:   # each pair in the original's place, so the order stays topological
        graph.operators.insert(graph.operators.index(op), first)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), len(new_ops)


def _answers(tflite_bytes, crops):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_bytes, num_threads=1)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], crops.shape)
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], crops)
    interp.invoke()
    return interp.get_tensor(out["index"]).copy()


def split_checked(tflite_bytes):
    """`split_first_convs`, with the split graph's answers checked bit for bit against the original's on
    random crops (the extremes included); a graph with nothing to split comes back as it is."""
    new, n = split_first_convs(tflite_bytes)
    if not n:
        return tflite_bytes, 0
    crops = np.random.default_rng(0).integers(-128, 128, (CHECK_CROPS, 96, 96, 1), dtype=np.int8)
    crops[0], crops[1] = -128, 127
    if not np.array_equal(_answers(tflite_bytes, crops), _answers(new, crops)):
        raise RunError("splitting the first convolutions changed the graph's answers; the graph is left as it was")
    return new, n


@click.command()
@click.argument("models_dir", type=click.Path(exists=True, file_okay=False))
def main(models_dir):
    """Split the one-channel first convolutions of the int8 graphs MODELS_DIR's manifest names."""
    try:
        manifest = load_manifest(models_dir)
        from .export import write_bytes   # TensorFlow: only once there are graphs to rewrite
        changed = 0
        for entry in manifest["subsets"].values():
            for item in [entry["ensemble"]] + entry["members"]:
                if item["quantization"] != "int8":
                    continue
                path = os.path.join(models_dir, item["file"])
                with open(path, "rb") as f:
                    new, n = split_checked(f.read())
                if n:
                    write_bytes(path, new)
                    item["bytes"] = os.path.getsize(path)
                    changed += 1
                click.echo(f"{item['file']}: {n} convolution(s) split")
        if changed:
            write_json(os.path.join(models_dir, MANIFEST), manifest)
            load_manifest(models_dir)
    except FkdError as e:
        raise click.ClickException(str(e)) from None


if __name__ == "__main__":
    main()
