"""The member CNNs: four conv blocks (He-normal, batch norm, ReLU, max-pool) and a dense head.

Two architectures, chosen by name (`fkd-train --arch`):
- `seed`: plain k x k convolutions 24 -> 36 -> 48 -> 64, the Kaggle seed's network (about 90 M
  multiply-adds at 96 px);
- `separable`: a plain first convolution, then depthwise-separable blocks (a k x k depthwise
  convolution and a 1 x 1 pointwise one, each with batch norm and ReLU), which cost a fraction of
  the plain ones at the same width;
- `factorized`: the seed's network with each k x k convolution whose `ranks[i]` is not 0 made a k x 1
  one to `ranks[i]` channels and a 1 x k one, with no batch norm between: the seed's function at rank
  k x in channels (the first convolution, with one input channel, at rank k), a low-rank version of it
  below (`fkd/train/factorize.py` starts one from a trained seed member).

Inputs are 96x96x1 in [0, 1]; outputs are keypoints as (x - 48) / 48, so
they lie in about [-1, 1] and map back to crop pixels with `* 48 + 48`.
"""

import keras
from keras import layers, ops

from .architectures import ARCHITECTURES, RANKS

HALF = 48.0


def _norm_relu(x):
    return layers.ReLU()(layers.BatchNormalization()(x))


def build(n_outputs, widths=(24, 36, 48, 64), kernel=5, dense=512, size=96, name="member", arch="seed", ranks=RANKS):
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    inputs = keras.Input((size, size, 1), name="image")
    x = inputs
    for i, w in enumerate(widths):
        if arch == "factorized" and ranks[i]:
            x = layers.Conv2D(ranks[i], (kernel, 1), padding="same", use_bias=False, kernel_initializer="he_normal")(x)
            x = layers.Conv2D(w, (1, kernel), padding="same", use_bias=False, kernel_initializer="he_normal")(x)
        elif arch in ("seed", "factorized") or i == 0:
            x = layers.Conv2D(w, kernel, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
        else:
            x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False,
                                       depthwise_initializer="he_normal")(x)
            x = _norm_relu(x)
            x = layers.Conv2D(w, 1, use_bias=False, kernel_initializer="he_normal")(x)
        x = _norm_relu(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, use_bias=False, kernel_initializer="he_normal")(x)
    x = _norm_relu(x)
    outputs = layers.Dense(n_outputs, dtype="float32", name="keypoints")(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="fkd")
def masked_mse(y_true, y_pred):
    """MSE over the labels present; a NaN label adds nothing and no gradient."""
    y_pred = ops.cast(y_pred, "float32")
    present = ops.logical_not(ops.isnan(y_true))
    diff = ops.where(present, ops.nan_to_num(y_true) - y_pred, 0.0)
    n = ops.maximum(ops.sum(ops.cast(present, "float32")), 1.0)
    return ops.sum(diff * diff) / n
