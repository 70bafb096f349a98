"""The member CNN: conv 24 -> 36 -> 48 -> 64, He-normal, batch norm, ReLU, max-pool, dense head.

Inputs are 96x96x1 in [0, 1]; outputs are keypoints as (x - 48) / 48, so
they lie in about [-1, 1] and map back to crop pixels with `* 48 + 48`.
"""

import keras
from keras import layers, ops

HALF = 48.0


def build(n_outputs, widths=(24, 36, 48, 64), kernel=5, dense=512, size=96, name="member"):
    inputs = keras.Input((size, size, 1), name="image")
    x = inputs
    for w in widths:
        x = layers.Conv2D(w, kernel, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, use_bias=False, kernel_initializer="he_normal")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
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
