"""LiteRT inference: a batch of 96x96 crops -> keypoints in crop pixels."""

import os

import numpy as np

from .keypoints import INDEX, NAMES, SUBSETS, flip_permutation
from .manifest import MIRROR_MODES, ModelError, load_manifest


FLIP_15 = flip_permutation(NAMES)


def mirror_plan(mode, n_members):
    """(member index, mirrored) pairs whose answers an ensemble averages."""
    if mode not in MIRROR_MODES:
        raise ModelError(f"unknown mirror mode {mode!r}; choose from {', '.join(MIRROR_MODES)}")
    if mode == "all":
        return [(i, False) for i in range(n_members)] + [(i, True) for i in range(n_members)]
    return [(i, mode == "alternate" and i % 2 == 1) for i in range(n_members)]


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - the dependency is declared
        raise ModelError("LiteRT is missing: pip install ai-edge-litert") from None
    return Interpreter


class Runner:
    """One .tflite file: uint8 crops (n, 96, 96) -> (n, k, 2) crop pixels.

    Handles float and int8 files alike through the tensors' own quantization. One interpreter is kept
    per batch size met (one face, two faces, a first frame's extra crops), so a frame whose number of
    crops differs from the last one's re-allocates nothing.
    """

    MAX_SIZES = 8   # batch sizes kept; beyond, the least recent is dropped

    def __init__(self, path, threads=1, to_crop_px=(48.0, 48.0)):
        if not os.path.isfile(path):
            raise ModelError(f"{path}: model file missing")
        self.path, self.threads = path, threads
        interp = self._open()
        self.mul, self.add = to_crop_px
        self.inp = interp.get_input_details()[0]
        self.out = interp.get_output_details()[0]
        self.interps = {int(self.inp["shape"][0]): interp}
        in_scale, in_zero = self.inp["quantization"]
        self.in_dtype = self.inp["dtype"]
        # pixel p in [0, 255] -> model value p / 255 -> tensor value, as a table: one lookup a crop
        levels = np.arange(256, dtype=np.float32)
        if self.in_dtype == np.float32:
            self.table = levels * np.float32(1.0 / 255.0)
        else:
            info = np.iinfo(self.in_dtype)
            x = levels * np.float32(1.0 / (255.0 * in_scale)) + np.float32(in_zero)
            self.table = np.clip(np.rint(x), info.min, info.max).astype(self.in_dtype)
        out_scale, out_zero = self.out["quantization"]
        self.out_q = (out_scale, out_zero) if self.out["dtype"] != np.float32 else None

    def _open(self, batch=None):
        try:
            interp = _interpreter_class()(model_path=self.path, num_threads=self.threads)
            if batch is not None:
                inp = interp.get_input_details()[0]
                interp.resize_tensor_input(inp["index"], [batch, *inp["shape"][1:]])
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.path}: not a usable TFLite model ({str(e).splitlines()[0]})") from None
        return interp

    def _for(self, n):
        interp = self.interps.pop(n, None) or self._open(n)
        self.interps[n] = interp   # most recent last
        while len(self.interps) > self.MAX_SIZES:
            self.interps.pop(next(iter(self.interps)))
        return interp

    def raw(self, crops):
        crops = np.asarray(crops)
        n = len(crops)
        interp = self._for(n)
        if crops.dtype != np.uint8:
            crops = np.clip(np.rint(crops), 0, 255).astype(np.uint8)
        interp.set_tensor(self.inp["index"], self.table[crops.reshape(n, *self.inp["shape"][1:])])
        interp.invoke()
        y = interp.get_tensor(self.out["index"]).astype(np.float32)
        if self.out_q:
            y = (y - self.out_q[1]) * self.out_q[0]
        return y

    def predict(self, crops, batch_size=256):
        """(n, k, 2) keypoints in crop pixels."""
        crops = np.asarray(crops)
        parts = [self.raw(crops[i:i + batch_size]) for i in range(0, len(crops), batch_size)]
        y = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        return (y * self.mul + self.add).reshape(len(crops), -1, 2)


class Keypoints15:
    """Both subsets' ensembles of a models folder: crops -> all 15 keypoints.

    `fused=True` runs each subset's single fused graph (one invoke); False runs
    the members one by one and averages them, for checking the fused graph
    and, with `mirror` set to one of MIRROR_MODES, for measuring what the mirror buys.
    """

    def __init__(self, models_dir, threads=1, fused=True, mirror=None):
        self.manifest = load_manifest(models_dir)
        conv = self.manifest["output"]["to_crop_px"]
        to_px = (float(conv["multiply"]), float(conv["add"]))
        self.parts = []
        for name, sub in self.manifest["subsets"].items():
            if fused:   # the fused graph mirrors inside
                plan = [(0, False)]
                files = [sub["ensemble"]["file"]]
            else:
                files = [m["file"] for m in sub["members"]]
                plan = mirror_plan(sub["ensemble"].get("mirror", "none") if mirror is None else mirror, len(files))
            runners = [Runner(os.path.join(models_dir, f), threads, to_px) for f in files]
            self.parts.append(([INDEX[k] for k in SUBSETS[name]], runners, plan, flip_permutation(SUBSETS[name])))
        have = {i for idx, *_ in self.parts for i in idx}
        missing = [NAMES[i] for i in range(len(NAMES)) if i not in have]
        if missing:
            raise ModelError(f"{models_dir}: the manifest covers no model for {', '.join(missing)}")

    def __call__(self, crops, mirrored=False):
        """(n, 15, 2) crop pixels. `mirrored` feeds every graph the mirrored crops and maps the answers
        back: where members alternate views, each then sees the view it does not see otherwise."""
        if mirrored and len(crops):
            out = self(np.ascontiguousarray(crops[:, :, ::-1]))[:, FLIP_15]
            out[..., 0] = crops.shape[2] - 1 - out[..., 0]
            return out
        out = np.full((len(crops), len(NAMES), 2), np.nan, np.float32)
        if len(crops) == 0:
            return out
        mirrored_crops = None
        for idx, runners, plan, perm in self.parts:
            preds = []
            for i, flipped in plan:
                if not flipped:
                    preds.append(runners[i].predict(crops))
                    continue
                if mirrored_crops is None:
                    mirrored_crops = np.ascontiguousarray(crops[:, :, ::-1])
                p = runners[i].predict(mirrored_crops)[:, perm]
                p[..., 0] = crops.shape[2] - 1 - p[..., 0]
                preds.append(p)
            out[:, idx] = np.mean(preds, axis=0)
        return out
