"""The facade: `FaceTracker(TrackerOptions(...)).process(frame)` -> faces with 15 keypoints.

Two modes, as in MediaPipe Tasks: "image" treats every frame on its own
(detect, crop, infer, and crop again where those points place the face, turned
upright by its roll); "video" answers a new face's first frame so, then follows
it between detections by cropping around the points of the previous frame, shows the
members alternate views from frame to frame, re-detects every `detect_every`
frames or when a face is lost, and smooths points over time. In both, the models'
shape correction (tracker.shape) then moves back the points the CNNs pulled
towards the average face, and their descent step (tracker.descent) looks again
around each point.
"""

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

import cv2
import numpy as np

from .crop import CropRule, crop, roll, to_image
from .descent import DescentStep
from .detectors import make_detector
from .ensemble import Keypoints15
from .keypoints import NAMES
from .manifest import ModelError
from .shape import ShapeCorrection
from .smoothing import ShapePoseSmoother

DEFAULT_MODELS = os.environ.get("FKD_MODELS") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


@dataclass
class TrackerOptions:
    models_dir: str = DEFAULT_MODELS
    mode: str = "video"                 # "image" | "video"
    detector: str = "haar"              # a name in tracker.detectors.DETECTORS
    detector_options: dict = field(default_factory=dict)
    # image, and a new face's first frame in video: each face cropped this many times more, each crop
    # framed by the points so far as tracking frames it, turned upright, and mirrored on every second one
    # (members that alternate views then see the other); all answers averaged ((1 + refine)x the model time)
    refine: int = 2
    max_faces: int = 4
    threads: int = 1
    # video: frames between detector runs while tracking holds. The detector costs 4x a frame's
    # models, so it sets the frame rate: every 30 frames (1 s at 30 fps) new faces still appear
    # within a second, and a lost face is looked for on the next frame.
    detect_every: int = 30
    # video: crop again where the points say when they moved the face further than this (box sides)
    # within its crop. With frames alternating views, the views' disagreement alone crossed 2 % often,
    # and each crossing costs a second crop (`benchmarks/bench_pipeline.py` counts crops a frame)
    recrop_shift: float = 0.04
    # video: a tracked face's crop stays put (the detector's box, or the last one the points placed)
    # until its points say the face moved or grew by more than this (box sides), and keeps its turn
    # until they say the face turned by twice this (radians). While boxes were placed from four of the
    # points, cropping a still face where the last points said carried their error into the next
    # frame's points and the crop drifted, and 0.025 paid; placed from the mean face fitted to all 15
    # (CropRule.box_from_keypoints), following every frame does better. Chosen on the training persons'
    # photos at half size, not on the held-out ones (`fkd-eval --persons train --scale 0.5 --every 4
    # --mode video --motion --repeat 30 --hold H`, and `--repeat 10` without --motion for still faces):
    # 0 scored 1.843 moving and 1.591 still, 0.025 1.872 and 1.634; the held-out persons then gave 1.904
    # and 1.810 (0.025: 1.912, 1.846). Kept under recrop_shift, or a slow face is cropped twice
    hold: float = 0.0
    # the models' quadratic shape correction (tracker.shape), where their manifest has one; off, for
    # fitting it and for measuring what it buys
    shape_correction: bool = True
    # then the models' descent step (tracker.descent), where they have one: HOG around each point
    descent_step: bool = True
    # video: the face's shape averaged over frames in its own frame, its pose kept unlagged
    # (tracker.smoothing); shape_alpha weighs the newest frame's shape
    smoothing: bool = True
    shape_alpha: float = 0.25
    # video, smoothing on: when a frame's points stray from the smoothed face by more than this (RMS, in
    # eye distances), the detector looks near the face on the next frame (the whole frame, for a detector
    # without `near`), and a track gone wrong restarts from its box. On the training persons' moving and
    # still clips as for `hold` (`... --doubt D`): 0.035 scored 1.843 and 1.591, 0.045 1.896 and 1.588,
    # 0.06 1.889 and 1.615, inf (off) 1.938 and 1.634
    doubt: float = 0.035


@dataclass
class Face:
    box: np.ndarray                     # x, y, w, h in frame pixels: the box the crop was made from
    keypoints: np.ndarray               # (15, 2) frame pixels, rows in tracker.keypoints.NAMES order
    score: float = None                 # detector score of the detection that started the track
    track_id: int = None

    def to_json(self):
        return {"box": [round(float(v), 2) for v in self.box],
                "score": None if self.score is None else round(float(self.score), 4),
                "keypoints": {n: [round(float(x), 2), round(float(y), 2)] for n, (x, y) in zip(NAMES, self.keypoints)}}


@dataclass
class _Track:
    box: np.ndarray
    score: float
    track_id: int
    filter: ShapePoseSmoother = None
    missed: int = 0                      # detector rounds in a row that did not see it
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))   # box centre, px per frame
    # the box the points placed when `box` was last set: `box` itself, or for a detector's box
    # (framed otherwise) the box its first points placed; None until then
    key_box: np.ndarray = None
    angle: float = 0.0                   # radians: the crop turns the face's roll, as its points had it, upright
    last_roll: float = None              # the roll of the last frame's points (the other view)
    doubted: bool = False                # its points strayed (TrackerOptions.doubt) and the detector looks again
    frames: int = 0                      # frames answered


def iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def centre(box):
    return box[:2] + box[2:] / 2


def moved(a, b):
    """How far box `a` is from box `b`: the larger of the centre shift and the change of side, in b's sides."""
    return max(np.hypot(*(centre(a) - centre(b))), abs(a[2] - b[2])) / b[2]


def overlap(a, b):
    """Intersection over the smaller box."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (min(a[2] * a[3], b[2] * b[3]) + 1e-9)


class FaceTracker:
    def __init__(self, options=None, **overrides):
        self.options = o = options or TrackerOptions(**overrides)
        if o.mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', not {o.mode!r}")
        self.models = Keypoints15(o.models_dir, threads=o.threads)
        self.rule = CropRule.from_dict(self.models.manifest["crop_rule"])
        self.correction = self._load(o.shape_correction, "shape_correction", ShapeCorrection)
        self.descent = self._load(o.descent_step, "descent_step", DescentStep)
        self.detector = make_detector(o.detector, **o.detector_options)
        self.tracks, self.frame_index, self._next_id, self._redetect = [], 0, 0, False
        self.stage_s = defaultdict(float)   # seconds spent per stage, for benchmarks
        self.crops = 0                      # faces cropped and run through the models, for benchmarks

    # -- public --------------------------------------------------------------
    def process(self, frame):
        """Faces of one BGR (or grayscale) frame, biggest first; in video mode, frames in order."""
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self.options.mode == "image":
            faces = self._image(gray, frame)
        else:
            faces = self._video(gray, frame)
        self.frame_index += 1
        return faces

    def reset(self):
        self.tracks, self.frame_index, self._redetect = [], 0, False

    def close(self):
        self.detector.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals -----------------------------------------------------------
    def _load(self, wanted, key, cls):
        """The manifest's `key` stage, or one that changes nothing."""
        entry = self.models.manifest.get(key)
        if not (wanted and entry):
            return lambda *args: args[-1]
        path = os.path.join(self.options.models_dir, entry["file"])
        try:
            return cls.load(path)
        except (OSError, KeyError, ValueError) as e:
            raise ModelError(f"{path}: unreadable {key.replace('_', ' ')} ({e})") from None

    def _detect(self, gray, frame):
        t0 = time.perf_counter()
        boxes, scores = self.detector(gray, frame if frame.ndim == 3 else None)
        self.stage_s["detect"] += time.perf_counter() - t0
        # a face found twice (overlapping boxes) counts once: the better-scored box wins
        out = []
        for i in range(len(boxes)):
            if all(iou(boxes[i], boxes[j]) < 0.3 for j in out):
                out.append(i)
        out = sorted(out, key=lambda i: -boxes[i][2] * boxes[i][3])[: self.options.max_faces]
        return boxes[out], scores[out]

    def _infer(self, gray, boxes, mirrored=False, angles=None):
        if len(boxes) == 0:
            return np.zeros((0, len(NAMES), 2))
        t0 = time.perf_counter()
        angles = np.zeros(len(boxes)) if angles is None else angles
        crops, mats = zip(*(crop(gray, b, self.rule, a) for b, a in zip(boxes, angles)))
        self.crops += len(crops)
        t1 = time.perf_counter()
        pts = self.models(np.stack(crops), mirrored)
        self.stage_s["crop"] += t1 - t0
        self.stage_s["infer"] += time.perf_counter() - t1
        return np.stack([to_image(p, m) for p, m in zip(pts, mats)])

    def _after(self, gray, pts):
        """The stages after the models: shape correction, then descent step."""
        t0 = time.perf_counter()
        out = self.descent(gray, self.correction(pts))
        self.stage_s["after"] += time.perf_counter() - t0
        return out

    def _refined(self, gray, pts, mirrored=False):
        """Points answered on crops from the detector's boxes (the mirrored view if `mirrored`), cropped
        `refine` times more from the box the points so far place, turned upright, each crop showing the
        other view; all answers averaged."""
        total = pts
        for k in range(1, self.options.refine + 1):
            total = total + self._infer(gray, [self.rule.box_from_keypoints(p) for p in pts],
                                        mirrored=(k % 2 == 1) != mirrored, angles=[roll(p) for p in pts])
            pts = total / (k + 1)
        return pts

    def _image(self, gray, frame):
        boxes, scores = self._detect(gray, frame)
        pts = self._refined(gray, self._infer(gray, boxes))
        return [Face(b, p, float(s)) for b, p, s in zip(boxes, self._after(gray, pts), scores)]

    def _video(self, gray, frame):
        o = self.options
        if not self.tracks or self._redetect or self.frame_index % o.detect_every == 0:
            self._update_from_detector(gray, frame)
            self._redetect = False
        elif any(tr.doubted for tr in self.tracks):
            self._check_doubted(gray)
        if not self.tracks:
            return []
        # constant-velocity guess of where each face is now: the models' answers lag
        # a moving face a little, and without the guess the lag adds up between detections
        # (a box the detector just gave is where the face is now)
        fresh = [tr.key_box is None for tr in self.tracks]
        step = [np.zeros(4) if f else np.r_[tr.velocity, 0.0, 0.0] for tr, f in zip(self.tracks, fresh)]
        crop_boxes = [tr.box + v for tr, v in zip(self.tracks, step)]
        # each frame shows the members the other view, and the smoothing averages the two
        mirrored = bool(self.frame_index % 2)
        pts = self._infer(gray, crop_boxes, mirrored, [tr.angle for tr in self.tracks])
        # a new face's first frame is answered as image mode answers it (three crops): the track starts
        # from better points (fkd-eval --motion: 1.904 -> 1.854)
        first = [i for i, tr in enumerate(self.tracks) if tr.frames == 0]
        if first:
            pts[first] = self._refined(gray, pts[first], mirrored)
        # the points after the models' stages frame the next crop: the crop rule places its box from
        # true points, and these are nearer them than the models' own (on moving clips, fkd-eval
        # --motion, framing by the models' own points was worse, 2.094 against 2.041 on the frames both
        # found). They break the loop in which a crop framed by a model's points draws its next points
        # further its own way
        pts = self._after(gray, pts)
        new_boxes = [self.rule.box_from_keypoints(p) for p in pts]
        for tr, new_box, f in zip(self.tracks, new_boxes, fresh):
            if f:   # the detector's box is framed unlike the points': where they place it is its key
                tr.key_box = new_box
        key_boxes = [tr.key_box + v for tr, v in zip(self.tracks, step)]

        def shift(i):   # how far the points moved the face within its crop, in box sides
            return np.hypot(*(centre(new_boxes[i]) - centre(key_boxes[i]))) / key_boxes[i][2]

        # a face that moved further than the training shifts reach has its points pulled towards
        # the crop's middle: look again, in one batch, where they say it is
        again = [i for i in range(len(pts)) if o.recrop_shift < shift(i) < 0.5]
        looked = self._infer(gray, [new_boxes[i] for i in again], mirrored, [self.tracks[i].angle for i in again])
        for i, p in zip(again, self._after(gray, looked)):
            crop_boxes[i], key_boxes[i], pts[i] = new_boxes[i], new_boxes[i], p
            new_boxes[i] = self.rule.box_from_keypoints(p)
        h, w = gray.shape[:2]
        alive, faces = [], []
        for i, (tr, box, key_box, p, new_box) in enumerate(zip(self.tracks, crop_boxes, key_boxes, pts, new_boxes)):
            side_ratio = new_box[2] / key_box[2]
            cx, cy = centre(new_box)
            if not (0.6 < side_ratio < 1.6 and shift(i) < 0.5 and 0 <= cx < w and 0 <= cy < h):
                continue   # lost: the points no longer describe a face where we looked
            shown = p
            if o.smoothing:
                tr.filter = tr.filter or ShapePoseSmoother(o.shape_alpha)
                shown = tr.filter(p).astype(np.float32)
                # a frame whose points stray from the smoothed face is often a track going wrong
                stray = np.sqrt(((p - shown) ** 2).sum(axis=1).mean()) / np.linalg.norm(shown[0] - shown[1])
                if stray > o.doubt:   # the detector looks near it on the next frame (or over all of it)
                    tr.doubted = True
                    self._redetect = self._redetect or not hasattr(self.detector, "near")
            faces.append(Face(box, shown, tr.score, tr.track_id))
            if moved(new_box, tr.key_box) >= o.hold or i in again:
                # of the centre: a box that grows or shrinks moves its corner while the face stays put; not
                # from a first frame, whose answer (three crops) differs from the next frames' by more
                tr.velocity = centre(new_box) - centre(tr.key_box) if tr.frames > 1 else np.zeros(2)
                tr.box = tr.key_box = new_box
            elif not fresh[i]:   # held (see TrackerOptions.hold); a detection keeps the speed measured before
                tr.velocity = np.zeros(2)
            # the crop turns about its centre, the box staying put, when the face turned further than moves
            # the middles of its sides by `hold`; the roll of this frame's and the last frame's points,
            # which average both views (the smoothed points lag a turning face by several frames)
            this_roll = roll(p)
            angle = this_roll if tr.last_roll is None else (this_roll + tr.last_roll) / 2
            tr.last_roll = this_roll
            tr.frames += 1
            if abs(angle - tr.angle) / 2 >= o.hold:
                tr.angle = angle
            alive.append(tr)
        if len(alive) < len(self.tracks):
            self._redetect = True   # a face was lost: look again on the next frame
        self.tracks = alive
        return faces

    def _check_doubted(self, gray):
        """Doubted tracks restart from the detector's box near them; unseen, they go on (the cascade misses
        turned faces)."""
        t0 = time.perf_counter()
        for tr in self.tracks:
            if tr.doubted:
                tr.doubted = False
                boxes, _ = self.detector.near(gray, tr.box)
                ious = [iou(tr.box, b) for b in boxes]
                if ious and max(ious) > 0.3:
                    tr.box, tr.key_box = np.asarray(boxes[int(np.argmax(ious))], float), None
        self.stage_s["detect"] += time.perf_counter() - t0

    def _update_from_detector(self, gray, frame):
        """Matched tracks restart from the detector's box (no drift); new faces start tracks."""
        boxes, scores = self._detect(gray, frame)
        used = set()
        for tr in self.tracks:
            ious = [iou(tr.box, b) if i not in used else 0.0 for i, b in enumerate(boxes)]
            if ious and max(ious) > 0.3:
                j = int(np.argmax(ious))
                used.add(j)
                tr.box, tr.missed, tr.key_box = np.asarray(boxes[j], float), 0, None
            else:   # not seen where its points strayed: lost
                tr.missed += 2 if tr.doubted else 1
            tr.doubted = False
        # an unmatched track that overlaps a detection is a drifted copy of it
        self.tracks = [tr for tr in self.tracks if tr.missed == 0 or
                       (tr.missed < 2 and all(overlap(tr.box, b) < 0.5 for b in boxes))]
        for i, (b, s) in enumerate(zip(boxes, scores)):
            if i not in used and len(self.tracks) < self.options.max_faces:
                self.tracks.append(_Track(np.asarray(b, float), float(s), self._next_id))
                self._next_id += 1
