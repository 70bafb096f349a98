"""models/manifest.json: the contract between training and tracking."""

import json
import os

from .errors import ModelError
from .keypoints import SUBSETS

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
# Which members see the mirrored crop (answer mirrored back, rows swapped left/right):
#   none       every member sees the crop;
#   alternate  odd-numbered members see the mirror instead, at no extra cost: the members'
#              left/right biases then partly cancel (MODEL_CARD.md says what it buys);
#   all        every member sees both (flip test-time augmentation), at twice the cost.
MIRROR_MODES = ("none", "alternate", "all")
# Stages after the models, fitted on their answers (train.shape_fit): each an entry naming its file.
STAGES = ("shape_correction", "descent_step")


def load_manifest(models_dir, must_exist=True):
    """The parsed, checked manifest of a models folder (None if absent and not `must_exist`)."""
    path = os.path.join(models_dir, MANIFEST)
    if not os.path.isfile(path):
        if must_exist:
            raise ModelError(f"{models_dir}: no {MANIFEST}; train with fkd-train or pass --models DIR")
        return None
    try:
        with open(path) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable manifest ({e})") from None
    check(m, path)
    return m


def write_json(path, obj):
    """Written whole or not at all: a reader never sees half a manifest or run state."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def drop_stage(models_dir, manifest, key):
    """Takes a fitted stage out of the manifest (not yet written) and deletes its file."""
    entry = manifest.pop(key, None)
    if entry and os.path.isfile(os.path.join(models_dir, entry["file"])):
        os.remove(os.path.join(models_dir, entry["file"]))


def check(m, path="manifest"):
    def need(cond, what):
        if not cond:
            raise ModelError(f"{path}: {what}")

    need(isinstance(m, dict), "not a JSON object")
    need(m.get("format_version") == FORMAT_VERSION,
         f"format_version {m.get('format_version')!r}, this fkd reads {FORMAT_VERSION}")
    need(isinstance(m.get("subsets"), dict), "no 'subsets'")
    need(isinstance(m.get("crop_rule"), dict), "no 'crop_rule'")
    out = m.get("output", {}).get("to_crop_px", {})
    need(isinstance(out.get("multiply"), (int, float)) and isinstance(out.get("add"), (int, float)),
         "no output.to_crop_px {multiply, add}")
    for key in STAGES:
        stage = m.get(key)
        need(stage is None or isinstance(stage, dict) and isinstance(stage.get("file"), str), f"{key} names no file")
    for name, s in m["subsets"].items():
        need(name in SUBSETS, f"unknown subset {name!r}")
        need(list(s.get("keypoints", [])) == list(SUBSETS[name]), f"{name}: keypoints differ from fkd's table")
        ens = s.get("ensemble")
        need(isinstance(ens, dict) and isinstance(ens.get("file"), str), f"{name}: no ensemble file")
        need(ens.get("mirror", "none") in MIRROR_MODES, f"{name}: unknown mirror mode {ens.get('mirror')!r}")
        for mem in s.get("members", []):
            need(isinstance(mem, dict) and isinstance(mem.get("file"), str)
                 and mem.get("quantization") in ("int8", "float16", "float32"), f"{name}: bad member entry")
