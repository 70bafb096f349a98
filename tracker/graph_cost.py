"""Multiply-adds of a TFLite graph, counted from its operators: a model's cost that reads the same on any machine."""

import numpy as np


def undelegated(path):
    """A LiteRT interpreter of the graph without the default delegate, whose single DELEGATE node would
    hide the operators and their weights."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(model_path=str(path),
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def multiply_adds(path):
    """Multiply-adds of one invoke at batch 1: convolutions, depthwise convolutions and dense layers
    (the rest, pooling and element-wise work, is a small share in these models)."""
    interp = undelegated(path)
    shapes = {t["index"]: t["shape"] for t in interp.get_tensor_details()}
    total = 0
    for op in interp._get_ops_details():
        name, ins, outs = op["op_name"], op["inputs"], op["outputs"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
            continue
        w = shapes[ins[1]]
        out = shapes[outs[0]]
        if name == "CONV_2D":   # weights (out channels, kh, kw, in channels)
            total += int(np.prod(out[1:])) * int(np.prod(w[1:]))
        elif name == "DEPTHWISE_CONV_2D":   # weights (1, kh, kw, channels)
            total += int(np.prod(out[1:])) * int(w[1] * w[2])
        elif name == "TRANSPOSE_CONV":
            total += int(np.prod(shapes[ins[2]][1:])) * int(np.prod(w[1:]))
        else:   # dense: weights (out, in)
            total += int(w[0]) * int(w[1])
    return total
