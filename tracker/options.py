"""TrackerOptions: how a FaceTracker runs, checked when made.

Why each default is what it is, with the runs that chose it, is in docs/experiments.md.
"""

import math
from dataclasses import dataclass, field, fields

from .errors import OptionError

MODES = ("image", "video")


@dataclass
class TrackerOptions:
    """Each field: meaning, unit, range. A value out of range raises OptionError (a ValueError)."""

    models_dir: str = None          # folder with manifest.json; None: $FKD_MODELS, else the models inside fkd
    mode: str = "video"             # "image": every frame on its own; "video": frames in order, faces tracked
    detector: str = "haar"          # a name in fkd.detectors.DETECTORS
    detector_options: dict = field(default_factory=dict)   # keyword arguments of that detector
    refine: int = 2                 # image mode and a new face's first frame: crops more per face, 0 to 8
    max_faces: int = 16             # faces answered per frame, largest first, at least 1
    threads: int = 1                # LiteRT threads, at least 1
    detect_every: int = 30          # video: frames between whole-frame detections while tracking holds, at least 1
    infer_every: int = 3            # video: the models answer every this many frames, optical flow between (fkd.flow), at least 1
    idle_detect_every: int = 3      # video: the same while no face is tracked (near a lost face between), at least 1
    recrop_shift: float = 0.04      # video: crop again when the points moved the face this far in its crop, box sides, (0, 0.5)
    hold: float = 0.0               # video: a crop stays until the face moved this far, box sides, [0, recrop_shift); 0 follows
    shape_correction: bool = True   # the models' shape correction (fkd.shape) where they ship one
    descent_step: bool = True       # then their descent step (fkd.descent) where they ship one
    smoothing: bool = True          # video: shape averaged over frames, pose unlagged (fkd.smoothing)
    shape_alpha: float = 0.25       # video: the newest frame's weight in the smoothed shape, (0, 1]
    steady: float = 0.02            # video: moves well under this are averaged out as noise, eye distances, >= 0 (0: off)
    min_confidence: float = 0.0     # faces whose confidence (fkd.confidence) is under this are dropped, [0, 1)
    doubt: float = 0.035            # video: stray from the smoothed face that has the detector look again, eye distances, > 0 (inf: never)

    def __post_init__(self):
        for f in fields(self):
            check = _CHECKS.get(f.name)
            if check and not check[0](getattr(self, f.name), self):
                raise OptionError(f"TrackerOptions.{f.name} = {getattr(self, f.name)!r}: must be {check[1]}")


def _int_in(lo, hi=None):
    return lambda v, o: isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


_CHECKS = {
    "models_dir": (lambda v, o: v is None or isinstance(v, str) or hasattr(v, "__fspath__"), "a folder path or None"),
    "mode": (lambda v, o: v in MODES, " or ".join(repr(m) for m in MODES)),
    "detector": (lambda v, o: isinstance(v, str), "a detector name"),
    "detector_options": (lambda v, o: isinstance(v, dict), "a dict of the detector's keyword arguments"),
    "refine": (_int_in(0, 8), "an integer from 0 to 8"),
    "max_faces": (_int_in(1), "an integer of at least 1"),
    "threads": (_int_in(1), "an integer of at least 1"),
    "detect_every": (_int_in(1), "an integer of at least 1"),
    "infer_every": (_int_in(1), "an integer of at least 1"),
    "idle_detect_every": (_int_in(1), "an integer of at least 1"),
    "recrop_shift": (lambda v, o: _number(v) and 0 < v < 0.5, "a number between 0 and 0.5 (box sides)"),
    "hold": (lambda v, o: _number(v) and 0 <= v < o.recrop_shift,
             "a number from 0 up to recrop_shift (box sides), or a slow face is cropped twice"),
    "shape_correction": (lambda v, o: isinstance(v, bool), "True or False"),
    "descent_step": (lambda v, o: isinstance(v, bool), "True or False"),
    "smoothing": (lambda v, o: isinstance(v, bool), "True or False"),
    "steady": (lambda v, o: _number(v) and 0 <= v < 1, "a number from 0 up to 1 (eye distances)"),
    "shape_alpha": (lambda v, o: _number(v) and 0 < v <= 1, "a number above 0 and at most 1"),
    "min_confidence": (lambda v, o: _number(v) and 0 <= v < 1, "a number from 0 up to 1"),
    "doubt": (lambda v, o: _number(v) and v > 0, "a number above 0 (eye distances; inf: never look again)"),
}
