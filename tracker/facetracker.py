"""The facade: `FaceTracker(TrackerOptions(...)).process(frame)` -> faces with 15 keypoints.

Two running modes, as in MediaPipe Tasks. "image" treats every frame on its own: detect, crop,
infer, and crop again where those points place the face, turned upright by its roll. "video" answers
a new face's first frame so, then follows it by cropping around the points of the previous frame,
shows the members alternate views from one model frame to the next, carries the points by optical
flow (fkd.flow) on the frames between (`infer_every`), re-detects every `detect_every` frames or
when a face is lost, and smooths points over time. In both, the models' shape correction
(fkd.shape) then moves back the points the CNNs pulled towards the average face, and their descent
step (fkd.descent) looks again around each point.
"""

import importlib.resources
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from .crop import CropRule, crop, roll, to_image
from .descent import DescentStep
from .detectors import make_detector
from .ensemble import Keypoints15
from .errors import ModelError
from .flow import carry
from .keypoints import NAMES
from .confidence import confidence, view_spread
from .options import TrackerOptions
from .pose import Pose, head_pose
from .shape import ShapeCorrection
from .tracks import SAME_FACE_IOU, DRIFTED_COPY_OVERLAP, Track, iou, overlap

log = logging.getLogger("fkd")


def default_models_dir():
    """$FKD_MODELS where set, else the models shipped inside the package."""
    return os.environ.get("FKD_MODELS") or str(importlib.resources.files("fkd.models"))


@dataclass
class Face:
    box: np.ndarray                     # x, y, w, h in frame pixels: the box the crop was made from
    keypoints: np.ndarray               # (15, 2) frame pixels, rows in fkd.KEYPOINT_NAMES order
    score: float = None                 # detector score of the detection that started the track
    track_id: int = None                # video mode: the same face keeps its id from frame to frame
    uncertainty: np.ndarray = None      # (15,) Kaggle-scale px: how far the views' answers disagree (fkd.confidence)
    pose: Pose = None                   # head pose in degrees (fkd.pose), None where it cannot be solved

    @property
    def point_confidence(self):
        """(15,) in (0, 1]: 1 / (1 + (uncertainty / 2 px)^2); None without an uncertainty."""
        return None if self.uncertainty is None else confidence(self.uncertainty)

    @property
    def confidence(self):
        """The face's, from the RMS of its points' uncertainties, on the same scale."""
        return None if self.uncertainty is None else float(confidence(np.sqrt(np.mean(self.uncertainty ** 2))))

    def to_json(self):
        out = {"box": [round(float(v), 2) for v in self.box],
               "score": None if self.score is None else round(float(self.score), 4),
               "keypoints": {n: [round(float(x), 2), round(float(y), 2)] for n, (x, y) in zip(NAMES, self.keypoints)},
               "confidence": None if self.confidence is None else round(self.confidence, 3),
               "point_confidence": None if self.uncertainty is None else {
                   n: round(float(c), 3) for n, c in zip(NAMES, self.point_confidence)},
               "pose": None if self.pose is None else self.pose.to_json()}
        return out


def as_gray(frame):
    """The grayscale view of a frame that `process` takes, or TypeError/ValueError saying what it got."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, not {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TypeError(f"frame must be uint8 (0-255), not {frame.dtype}: convert with (frame * 255).astype(np.uint8) "
                        "or frame.astype(np.uint8)")
    if not (frame.ndim == 2 or frame.ndim == 3 and frame.shape[2] in (3, 4)):
        raise ValueError(f"frame must be (H, W) grayscale or (H, W, 3) BGR or (H, W, 4) BGRA, not shape {frame.shape}")
    if frame.size == 0:
        raise ValueError(f"frame is empty (shape {frame.shape})")
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)


class FaceTracker:
    def __init__(self, options=None, **overrides):
        self.options = o = options or TrackerOptions(**overrides)
        self.models_dir = o.models_dir or default_models_dir()
        self.models = Keypoints15(self.models_dir, threads=o.threads)
        self.rule = CropRule.from_dict(self.models.manifest["crop_rule"])
        self.correction = self._stage(o.shape_correction, "shape_correction", ShapeCorrection)
        self.descent = self._stage(o.descent_step, "descent_step", DescentStep)
        self.detector = make_detector(o.detector, o.mode, **o.detector_options)
        if o.mode == "video" and not hasattr(self.detector, "near"):
            log.info("detector %r cannot search near a face: a straying track has it search the whole frame",
                     o.detector)
        self.stage_s = defaultdict(float)   # seconds spent per stage, for benchmarks
        self.crops = 0                      # faces cropped and run through the models, for benchmarks
        self._next_id = 0
        self.reset()

    # -- public --------------------------------------------------------------
    def process(self, frame, timestamp_ms=None):
        """Faces of one BGR, BGRA or grayscale uint8 frame, biggest first.

        In video mode frames come in order; `timestamp_ms` (as MediaPipe's detect_for_video takes it),
        given with every frame, makes the tracker's speeds per second, so frames of an uneven rate are
        predicted right. Without it a face's speed is per frame.
        """
        gray = as_gray(frame)
        bgr = frame[..., :3] if frame.ndim == 3 else None
        if self.options.mode == "image":
            faces = self._image(gray, bgr)
        else:
            faces = self._video(gray, bgr, self._interval(timestamp_ms))
        self.frame_index += 1
        return faces

    def reset(self):
        """Forget the faces tracked: the next frame starts as a new video."""
        self.tracks, self.frame_index, self._redetect, self._last_ms, self._idle = [], 0, False, None, 0
        self._prev = None   # the last frame, grayscale: optical flow starts from it
        self._lost = []     # the boxes of the faces lost since the last frame with a track
        self._seen = False  # whether a face was tracked since the video started

    def close(self):
        self.detector.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the stages ----------------------------------------------------------
    def _stage(self, wanted, key, cls):
        """The manifest's `key` stage, or one that changes nothing."""
        entry = self.models.manifest.get(key)
        if not wanted:
            return lambda *args: args[-1]
        if not entry:
            log.warning("%s: the models ship no %s; their points are answered without it",
                        self.models_dir, key.replace("_", " "))
            return lambda *args: args[-1]
        path = os.path.join(self.models_dir, entry["file"])
        try:
            return cls.load(path)
        except (OSError, KeyError, ValueError) as e:
            raise ModelError(f"{path}: unreadable {key.replace('_', ' ')} ({e}); reinstall fkd or refit it "
                             "with python -m fkd.train.shape_fit") from None

    def _detect(self, gray, bgr):
        t0 = time.perf_counter()
        boxes, scores = self.detector(gray, bgr)
        self.stage_s["detect"] += time.perf_counter() - t0
        return self._distinct(boxes, scores)

    def _distinct(self, boxes, scores):
        """The largest `max_faces` boxes, a face found twice (overlapping boxes) once: the better-scored
        box wins (boxes come best first)."""
        out = []
        for i in range(len(boxes)):
            if all(iou(boxes[i], boxes[j]) < SAME_FACE_IOU for j in out):
                out.append(i)
        out = sorted(out, key=lambda i: -boxes[i][2] * boxes[i][3])[: self.options.max_faces]
        return boxes[out], scores[out]

    def _infer(self, gray, boxes, mirrored=False, angles=None):
        """Points of the faces in these boxes, frame pixels: crop, then the models."""
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
        other view; all answers averaged. Also how far the answers disagree (fkd.confidence), or None
        for a single crop."""
        total, answers = pts, [pts]
        for k in range(1, self.options.refine + 1):
            answers.append(self._infer(gray, [self.rule.box_from_keypoints(p) for p in pts],
                                       mirrored=(k % 2 == 1) != mirrored, angles=[roll(p) for p in pts]))
            total = total + answers[-1]
            pts = total / (k + 1)
        return pts, (view_spread(np.stack(answers)) if len(answers) > 1 else None)

    # -- image mode ----------------------------------------------------------
    def _image(self, gray, bgr):
        boxes, scores = self._detect(gray, bgr)
        pts, spread = self._refined(gray, self._infer(gray, boxes))
        faces = [Face(b, p, float(s), uncertainty=None if spread is None else u, pose=head_pose(p, gray.shape))
                 for b, p, s, u in zip(boxes, self._after(gray, pts), scores,
                                       spread if spread is not None else [None] * len(boxes))]
        return self._confident(faces)

    def _confident(self, faces):
        """The faces at or above `min_confidence` (all, where it is 0 or they have no uncertainty)."""
        m = self.options.min_confidence
        return [f for f in faces if not m or f.confidence is None or f.confidence >= m]

    # -- video mode: a few named phases --------------------------------------
    def _video(self, gray, bgr, dt):
        # kept for the flow of the next frame: a copy, as a caller may reuse a grayscale frame's buffer
        prev, self._prev = self._prev, (gray.copy() if self.options.infer_every > 1 else None)
        self._find_faces(gray, bgr)
        if not self.tracks:
            return []
        # each model frame shows the members the other view
        mirrored = bool(self.frame_index // self.options.infer_every % 2)
        for tr in self.tracks:
            tr.predict(dt)
        pts = np.zeros((len(self.tracks), len(NAMES), 2))
        carried = self._carried(gray, prev)
        infer = [i for i in range(len(self.tracks)) if i not in carried]
        if infer:
            pts[infer] = self._after(gray, self._crop_and_infer(gray, infer, mirrored))
        for i, p in carried.items():
            pts[i] = p
        # the points after the stages frame the next crop: they are nearer the true points, from which
        # the crop rule places its box, than the models' own
        for tr, p in zip(self.tracks, pts):
            tr.place(self.rule.box_from_keypoints(p))
        self._recrop_moved(gray, pts, mirrored, infer)
        if self.options.infer_every > 1:
            # the crops place, recrop and lose faces as without flow; the answer averages both views
            for i in infer:
                pts[i] = self.tracks[i].answered(pts[i], mirrored, both=self.tracks[i].frames == 0)
        return self._keep_smooth_update(gray, pts, dt)

    def _interval(self, timestamp_ms):
        """Time since the last frame, in the unit of the tracks' speeds: seconds, or 1 frame."""
        if timestamp_ms is None:
            if self._last_ms is not None:
                raise ValueError("timestamp_ms was given with earlier frames: give it with every frame")
            return 1.0
        if self._last_ms is None:
            if self.frame_index:
                raise ValueError("timestamp_ms was not given with earlier frames: give it with every frame or none")
            self._last_ms = timestamp_ms
            return 1.0   # no track has a speed yet
        if not timestamp_ms > self._last_ms:
            raise ValueError(f"timestamp_ms must increase from frame to frame: {timestamp_ms} after {self._last_ms}")
        dt, self._last_ms = (timestamp_ms - self._last_ms) / 1000.0, timestamp_ms
        return dt

    def _find_faces(self, gray, bgr):
        """The detector over the whole frame on schedule, when a face was lost, or for a detector that
        cannot search near a face that strayed; else near the faces that strayed."""
        o = self.options
        if not self.tracks:
            # nothing tracked: the whole frame on the idle cadence, counted from the frame after a face was
            # lost; between, for `detect_every` frames after the loss (it often comes back), near where it
            # was. A video's first `detect_every` frames look at every frame until a face is found.
            eager = not self._seen and self._idle < o.detect_every
            if self._redetect or eager or self._idle % o.idle_detect_every == 0:
                self._update_from_detector(gray, bgr)
            elif self._lost and self._idle < o.detect_every:
                self._look_near_lost(gray, bgr)
            self._redetect = False
            self._idle += 1
        elif self._redetect or self.frame_index % o.detect_every == 0:
            self._update_from_detector(gray, bgr)
            self._redetect = False
        elif any(tr.doubted for tr in self.tracks):
            self._check_doubted(gray)
        if self.tracks:
            self._idle, self._lost, self._seen = 0, [], True

    def _crop_and_infer(self, gray, which, mirrored):
        """The points of these tracks on a crop where each is predicted; a new face's first frame is
        answered as image mode answers it (more crops), so its track starts from better points."""
        tracks = [self.tracks[i] for i in which]
        pts = self._infer(gray, [tr.crop_box for tr in tracks], mirrored, [tr.angle for tr in tracks])
        first = [i for i, tr in enumerate(tracks) if tr.frames == 0]
        if first:
            pts[first], spread = self._refined(gray, pts[first], mirrored)
            for i, u in zip(first, spread if spread is not None else []):
                tracks[i].uncertainty = u
        return pts

    def _carried(self, gray, prev):
        """Moves each track's last answers of both views into this frame by optical flow; returns {track
        index: their mean} for the tracks flow answers: not on a model frame, nor
        a face just restarted from the detector (its box is there to take out drift)."""
        every = self.options.infer_every
        if every == 1:
            return {}
        t0 = time.perf_counter()
        out = {}
        for i, tr in enumerate(self.tracks):
            if tr.fresh or prev is None:
                tr.views = None
                continue
            if tr.views is None:
                continue
            tr.views = carry(prev, gray, tr.views)
            if self.frame_index % every and np.isfinite(tr.views[:, 0, 0]).any():
                out[i] = np.nanmean(tr.views, axis=0)
        self.stage_s["flow"] += time.perf_counter() - t0
        return out

    def _recrop_moved(self, gray, pts, mirrored, cropped):
        """A face (of those `cropped` this frame, not carried by flow) whose points moved it further in its
        crop than the training shifts reach has them pulled towards the crop's middle: look again, in one
        batch, where they say it is."""
        again = [i for i in cropped if self.options.recrop_shift < self.tracks[i].shift() < 0.5]
        if not again:
            return
        looked = self._infer(gray, [self.tracks[i].new_box for i in again], mirrored,
                             [self.tracks[i].angle for i in again])
        for i, p in zip(again, self._after(gray, looked)):
            pts[i] = p
            self.tracks[i].recrop(self.rule.box_from_keypoints(p))

    def _keep_smooth_update(self, gray, pts, dt):
        """Drop the tracks whose points lost the face; smooth the rest, doubt those that strayed, and
        set each one's next crop."""
        o = self.options
        alive, faces = [], []
        for tr, p in zip(self.tracks, pts):
            if tr.lost(gray.shape):
                self._lost.append(tr.crop_box)
                continue
            shown = p
            if o.smoothing:
                shown, stray = tr.smooth(p, o.shape_alpha, o.steady)
                if stray > o.doubt:   # often a track going wrong: the detector looks near it next frame
                    tr.doubted = True
                    self._redetect = self._redetect or not hasattr(self.detector, "near")
            faces.append(Face(tr.crop_box, shown, tr.score, tr.track_id, uncertainty=tr.uncertainty,
                              pose=head_pose(shown, gray.shape)))
            tr.update(p, o.hold, dt)
            alive.append(tr)
        if len(alive) < len(self.tracks):
            self._redetect = True   # a face was lost: look again on the next frame
        self.tracks = alive
        return self._confident(faces)

    def _check_doubted(self, gray):
        """Doubted tracks restart from the detector's box near them; unseen, they go on (the cascade misses
        turned faces)."""
        t0 = time.perf_counter()
        for tr in self.tracks:
            if tr.doubted:
                tr.doubted = False
                boxes, _ = self.detector.near(gray, tr.box)
                ious = [iou(tr.box, b) for b in boxes]
                if ious and max(ious) > SAME_FACE_IOU:
                    tr.restart(boxes[int(np.argmax(ious))])
        self.stage_s["detect"] += time.perf_counter() - t0

    def _look_near_lost(self, gray, bgr):
        """The detector near each face lost, a few times cheaper than the whole frame (the whole frame
        for a detector that cannot search near a box); a face found there starts a track."""
        if not hasattr(self.detector, "near"):
            return self._update_from_detector(gray, bgr)
        t0 = time.perf_counter()
        found = [self.detector.near(gray, box) for box in self._lost]
        self.stage_s["detect"] += time.perf_counter() - t0
        boxes, scores = np.concatenate([b for b, _ in found]), np.concatenate([s for _, s in found])
        order = np.argsort(-scores)
        self._update_from_detector(gray, bgr, (boxes[order], scores[order]))

    def _update_from_detector(self, gray, bgr, found=None):
        """Matched tracks restart from the detector's box (no drift); new faces start tracks. `found`:
        (boxes, scores) already detected, else the whole frame is searched."""
        boxes, scores = self._detect(gray, bgr) if found is None else self._distinct(*found)
        used = set()
        for tr in self.tracks:
            ious = [iou(tr.box, b) if i not in used else 0.0 for i, b in enumerate(boxes)]
            if ious and max(ious) > SAME_FACE_IOU:
                j = int(np.argmax(ious))
                used.add(j)
                tr.restart(boxes[j])
                tr.missed = 0
            else:   # not seen where its points strayed: lost
                tr.missed += 2 if tr.doubted else 1
            tr.doubted = False
        self.tracks = [tr for tr in self.tracks if tr.missed == 0 or
                       (tr.missed < 2 and all(overlap(tr.box, b) < DRIFTED_COPY_OVERLAP for b in boxes))]
        for i, (b, s) in enumerate(zip(boxes, scores)):
            if i not in used and len(self.tracks) < self.options.max_faces:
                self.tracks.append(Track(np.asarray(b, float), float(s), self._next_id))
                self._next_id += 1
