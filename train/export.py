"""Keras members -> TFLite (int8 and float16), the fused ensemble, and the manifest.

The manifest is the tracker's only contract with training: what a file takes,
what it returns and how to map that back to crop pixels.
"""

import contextlib
import datetime
import fcntl
import io
import os
import warnings

import numpy as np
import tensorflow as tf
import keras

from ..ensemble import mirror_plan
from ..keypoints import SUBSETS, flip_permutation
from ..manifest import MANIFEST, FORMAT_VERSION, STAGES, drop_stage, load_manifest, write_json
from .conv_split import split_checked
from .fit import rmse
from .model import HALF

SUBSETS_BY_SIZE = {len(v): v for v in SUBSETS.values()}
INT8_TOLERANCE = 0.02   # a fused int8 graph more than 2% worse than float16 ships as float16


def convert(model, quantization, representative=None, split_convs=True):
    """TFLite bytes of a Keras model: 'int8' (full integer, int8 in and out, its one-channel first
    convolutions split exactly unless `split_convs` is false), 'float16' or 'float32'."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        rep = representative.astype(np.float32)[..., None] / 255.0

        def gen():
            for i in range(len(rep)):
                yield [rep[i:i + 1]]

        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization != "float32":
        raise ValueError(f"unknown quantization {quantization!r}")
    # the converter prints the saved model's signature (dozens of lines) and warns of input statistics
    # that full-integer graphs do not use: noise in fkd-train's report
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Statistics for quantized inputs")
        graph = converter.convert()
    if quantization == "int8" and split_convs:   # the same answers, faster (conv_split.py)
        return split_checked(graph)[0]
    return graph


def fused(models, name, mirror="none"):
    """One graph: the members' answers averaged, each on the crop or its mirror as `mirror_plan` says.

    A mirrored answer is mirrored back inside the graph: x -> 95 - x in pixels,
    left/right rows swapped.
    """
    inputs = keras.Input(models[0].input_shape[1:], name="image")
    plan = mirror_plan(mirror, len(models))
    outs = [models[i](inputs) for i, mirrored in plan if not mirrored]
    if any(mirrored for _, mirrored in plan):
        k = models[0].output_shape[-1] // 2
        perm = flip_permutation(SUBSETS_BY_SIZE[k])
        w = np.zeros((2 * k, 2 * k), np.float32)
        b = np.zeros(2 * k, np.float32)
        for i, j in enumerate(perm):   # output row i of the mirrored answer is row perm[i], mirrored
            w[2 * j, 2 * i], w[2 * j + 1, 2 * i + 1] = -1.0, 1.0
            b[2 * i] = -1.0 / HALF     # pixel-centre mirror: (95 - x - 48) / 48 = -x_n - 1/48
        flipped = keras.layers.Lambda(lambda x: keras.ops.flip(x, axis=2), name="mirror")(inputs)
        unflip = keras.layers.Dense(2 * k, name="unmirror", trainable=False)
        outs += [unflip(models[i](flipped)) for i, mirrored in plan if mirrored]
        unflip.set_weights([w, b])
    out = outs[0] if len(outs) == 1 else keras.layers.Average(name="mean")(outs)
    return keras.Model(inputs, out, name=name)


def write_bytes(path, data):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def export_subset(out_dir, subset, models, float_rmse, val_images, val_kp, train_images, crop_rule, record,
                  mirror="none", quantization="auto", n_representative=300, seed=0):
    """Write the selected members and their fused ensemble; update the subset's manifest entry.

    `float_rmse`: each model's validation RMSE in Keras, as training measured it. `quantization`:
    int8, float16, or auto (int8 unless more than INT8_TOLERANCE worse than float16).
    """
    from ..ensemble import Runner

    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    rep = train_images[rng.choice(len(train_images), min(n_representative, len(train_images)), replace=False)]
    # the fused graph is what the tracker runs: it decides the quantization, and its members follow.
    # (int8 rounding of members partly averages out in the ensemble, so one member may lose more alone)
    ensemble = fused(models, f"{subset}_ensemble", mirror)
    scores = {}
    for q in ("int8", "float16"):
        fname = f"{subset}-ensemble-{q}.tflite"
        write_bytes(os.path.join(out_dir, fname), convert(ensemble, q, rep))
        scores[q] = rmse(Runner(os.path.join(out_dir, fname)).predict(val_images), val_kp)
    q = quantization
    if q == "auto":
        q = "int8" if scores["int8"] <= scores["float16"] * (1 + INT8_TOLERANCE) else "float16"
    record.setdefault("notes", []).append(
        f"fused graph: int8 {scores['int8']:.3f}px, float16 {scores['float16']:.3f}px; shipped {q}")
    fname, ens_rmse = f"{subset}-ensemble-{q}.tflite", scores[q]
    members = []
    for i, model in enumerate(models):
        mname = f"{subset}-m{i}-{q}.tflite"
        write_bytes(os.path.join(out_dir, mname), convert(model, q, rep))
        members.append({"file": mname, "quantization": q,
                        "val_rmse_px": round(rmse(Runner(os.path.join(out_dir, mname)).predict(val_images), val_kp), 4),
                        "val_rmse_px_float": round(float_rmse[i], 4),
                        "name": model.name, "bytes": os.path.getsize(os.path.join(out_dir, mname))})
    for old in os.listdir(out_dir):   # files of an earlier export of this subset
        if old.startswith(f"{subset}-") and old.endswith(".tflite") and old not in {m["file"] for m in members} | {fname}:
            os.remove(os.path.join(out_dir, old))
    # two subsets may export at once: the read-modify-write of the manifest is locked
    with open(os.path.join(out_dir, ".manifest.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = load_manifest(out_dir, must_exist=False) or {
            "format_version": FORMAT_VERSION, "subsets": {}}
        manifest["format_version"] = FORMAT_VERSION
        for key in STAGES:   # fitted on the answers of the members this replaces
            drop_stage(out_dir, manifest, key)
        manifest["crop_rule"] = crop_rule.to_dict()
        manifest["input"] = {"shape": [crop_rule.size, crop_rule.size, 1], "color": "gray",
                             "scale": "pixel / 255 (int8 files: the input tensor's quantization)"}
        manifest["output"] = {"layout": "x0, y0, x1, y1, ... in the subset's keypoint order",
                              "to_crop_px": {"multiply": HALF, "add": HALF}}
        manifest["subsets"][subset] = {
            "keypoints": list(SUBSETS[subset]),
            "ensemble": {"file": fname, "quantization": q, "members": len(members), "mirror": mirror,
                         "val_rmse_px": round(ens_rmse, 4),
                         "bytes": os.path.getsize(os.path.join(out_dir, fname))},
            "members": members,
            "trained": record,
            "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        write_json(os.path.join(out_dir, MANIFEST), manifest)
    load_manifest(out_dir)   # validates what was written
    return manifest["subsets"][subset]
