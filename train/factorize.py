"""Start a Keras member from a trained int8 TFLite member: its weights dequantized, each k x k convolution
split into a k x 1 and a 1 x k one by a truncated SVD where the member's architecture is `factorized`.

A k x k kernel W (k, k, in, out) read as the matrix M[(y, c), (x, n)] = W[y, x, c, n] is exactly a k x 1
convolution to rank(M) channels followed by a 1 x k one; keeping the r largest singular values gives the
closest such pair of rank r (Jaderberg, Vedaldi and Zisserman, 2014). The first convolution has one input
channel, so rank k splits it exactly.

The TFLite graph holds each layer with its batch norm folded in (y = W x + b); the Keras member keeps batch
norm, so each layer's kernel is scaled to He-normal size and its batch norm set, from the layer's outputs on
a sample of training crops, to give back W x + b: in inference mode exactly, in training mode for a batch
like the sample, so that fine-tuning starts from the member's own answers.
"""

import numpy as np

from ..errors import RunError, first_line
from ..graph_cost import undelegated
from .conv_split import is_row_copy


def tflite_layers(path):
    """Float (kernel, bias) of each convolution and dense layer of a TFLite graph, in graph order, in Keras'
    layouts: kernels (k, k, in, out) and (in, out)."""
    try:
        interp = undelegated(path)
    except (ValueError, RuntimeError) as e:
        raise RunError(f"{path}: not a usable TFLite model ({first_line(e, 120)})") from None
    details = {d["index"]: d for d in interp.get_tensor_details()}

    def value(i):
        t = interp.get_tensor(i)
        q = details[i]["quantization_parameters"]
        if t.dtype == np.float32 or not len(q["scales"]):
            return t.astype(np.float32)
        shape = [-1 if d == q["quantized_dimension"] else 1 for d in range(t.ndim)]
        return (t.astype(np.float32) - q["zero_points"].reshape(shape)) * q["scales"].reshape(shape)

    layers, row_copies = [], set()
    for op in interp._get_ops_details():
        name = op["op_name"]
        if name in ("DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"):
            raise RunError(f"{path}: a {name} graph cannot start a seed or factorized member")
        if name == "CONV_2D" and len(op["inputs"]) > 2 and op["inputs"][2] >= 0 \
                and is_row_copy(interp.get_tensor(op["inputs"][1]), interp.get_tensor(op["inputs"][2])):
            row_copies.add(op["outputs"][0])   # a split first convolution (conv_split.py): read as one
            continue
        if name in ("CONV_2D", "FULLY_CONNECTED"):   # weights (out, kh, kw, in) and (out, in)
            w = value(op["inputs"][1])
            if op["inputs"][0] in row_copies:   # (out, 1, kx, ky) back to (out, ky, kx, 1)
                w = w.transpose(0, 3, 2, 1)
            layers.append((w.transpose(*range(1, w.ndim), 0), value(op["inputs"][2])))
    return layers


def split_kernel(kernel, rank):
    """A (k, k, in, out) kernel -> the (k, 1, in, rank) and (1, k, rank, out) pair closest to it."""
    k, _, cin, cout = kernel.shape
    m = kernel.transpose(0, 2, 1, 3).reshape(k * cin, k * cout)
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    root = np.sqrt(s[:rank])
    vertical = (u[:, :rank] * root).reshape(k, cin, rank)[:, None]
    horizontal = (root[:, None] * vt[:rank]).reshape(rank, k, cout).transpose(1, 0, 2)[None]
    return vertical.astype(np.float32), horizontal.astype(np.float32)


def _groups(model):
    """The member's layers as [weight layers..., batch norm or None]: one group per TFLite layer."""
    import keras

    groups, current = [], []
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            raise RunError("a separable member cannot start from a TFLite member; use --arch seed or factorized")
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            current.append(layer)
            if layer.name == "keypoints":
                groups.append((current, None))
        elif isinstance(layer, keras.layers.BatchNormalization):
            groups.append((current, layer))
            current = []
    return groups


def load_tflite_member(model, path, images):
    """Set a seed or factorized Keras `model` to the TFLite member at `path`; `images` (n, 96, 96) uint8
    training crops set the batch norms (a few hundred are enough)."""
    import keras

    source = tflite_layers(path)
    groups = _groups(model)
    if len(source) != len(groups):
        raise RunError(f"{path}: {len(source)} layers, where this member has {len(groups)}")
    x = images[..., None].astype(np.float32) / 255.0
    for (kernel, bias), (weights, norm) in zip(source, groups):
        target = [tuple(w.kernel.shape) for w in weights]
        if len(weights) == 2:
            kernels = list(split_kernel(kernel, target[0][-1]))
        else:
            kernels = [kernel]
        if [k.shape for k in kernels] != target:
            raise RunError(f"{path}: a layer of shape {kernel.shape} does not fit this member's {target}")
        if norm is None:   # the output layer keeps its bias
            weights[0].set_weights([kernels[0], bias])
            continue
        # the last kernel to He-normal size per output channel; the batch norm gives the scale back
        fan_in = int(np.prod(kernels[-1].shape[:-1]))
        axes = tuple(range(kernels[-1].ndim - 1))
        scale = np.sqrt(np.mean(kernels[-1] ** 2, axis=axes)) / np.sqrt(2.0 / fan_in)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        kernels[-1] = kernels[-1] / scale
        for layer, k in zip(weights, kernels):
            layer.set_weights([k])
        z = keras.Model(model.inputs, weights[-1].output).predict(x, batch_size=256, verbose=0)
        z = z.reshape(-1, z.shape[-1]).astype(np.float64)
        mean, var = z.mean(axis=0), z.var(axis=0)
        gamma = scale * np.sqrt(var + norm.epsilon)
        norm.set_weights([gamma.astype(np.float32), (bias + scale * mean).astype(np.float32),
                          mean.astype(np.float32), var.astype(np.float32)])
