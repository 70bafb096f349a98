"""Face detectors, chosen by name: `DETECTORS["haar"]`, `DETECTORS["mediapipe"]`.

A detector is called on a grayscale frame (and the BGR frame, for those that
want colour) and returns (boxes (N, 4) as x, y, w, h in frame pixels, scores (N,)).
"""

import os

import cv2
import numpy as np

from .errors import DetectorError


class HaarDetector:
    """OpenCV's frontal-face Haar cascade on a downscaled frame.

    Defaults chosen on the 3,223 real frames of ../shared/data for recall with
    few false boxes (`python -m fkd.train.tune DATA` prints the comparison): no
    histogram equalisation, which lost faces there, and no faces under 1/8 of
    the frame's long side (40 px at 320), which found as many with fewer false
    boxes, faster. The crop rule is fitted on this cascade's boxes: another detector needs its own.
    """

    name = "haar"

    def __init__(self, cascade="haarcascade_frontalface_default.xml", max_side=320,
                 scale_factor=1.1, min_neighbors=4, min_size=40, upscale=True, equalize=False):
        path = cascade if os.path.isfile(cascade) else os.path.join(cv2.data.haarcascades, cascade)
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise DetectorError(f"cannot load Haar cascade {path}")
        self.max_side = max_side
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.upscale = upscale
        self.equalize = equalize
        self.cascade_name = os.path.basename(path)

    @property
    def settings(self):
        """What decides the boxes (the training cache is keyed on it)."""
        return {"cascade": self.cascade_name, "max_side": self.max_side, "scale_factor": self.scale_factor,
                "min_neighbors": self.min_neighbors, "min_size": self.min_size, "upscale": self.upscale,
                "equalize": self.equalize}

    def __call__(self, gray, bgr=None):
        return self._detect(gray, self._scale(gray), (self.min_size, 0))

    def near(self, gray, box, margin=0.5, sizes=(0.6, 1.6)):
        """Faces of `sizes` times the box's side within `margin` box sides of it, for the tracker to check a
        track: the frame is scaled as __call__ scales it, so the boxes are framed alike, but only that
        region and those sizes are searched (a few times cheaper than the whole frame)."""
        x, y, side = box[0], box[1], box[2]
        h, w = gray.shape[:2]
        x0, y0 = max(0, int(x - margin * side)), max(0, int(y - margin * side))
        x1, y1 = min(w, int(x + (1 + margin) * side) + 1), min(h, int(y + (1 + margin) * side) + 1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return np.zeros((0, 4)), np.zeros(0)
        f = self._scale(gray)
        lo = max(self.min_size, int(sizes[0] * side * f))
        boxes, scores = self._detect(gray[y0:y1, x0:x1], f, (lo, int(sizes[1] * side * f) + 1))
        return boxes + np.array([x0, y0, 0, 0]), scores

    def _scale(self, gray):
        side = max(gray.shape[:2])
        return self.max_side / side if (self.upscale or side > self.max_side) else 1.0

    def _detect(self, gray, f, sizes):
        h, w = gray.shape[:2]
        small = gray if f == 1.0 else cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))),
                                                 interpolation=cv2.INTER_AREA)
        if self.equalize:
            small = cv2.equalizeHist(small)
        boxes, _, weights = self.cascade.detectMultiScale3(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(sizes[0], sizes[0]), maxSize=(sizes[1], sizes[1]), outputRejectLevels=True)
        if len(boxes) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        boxes = np.asarray(boxes, dtype=np.float64) / f
        scores = np.asarray(weights, dtype=np.float64).reshape(-1)
        order = np.argsort(-scores)
        return boxes[order], scores[order]

    def close(self):
        pass


class MediaPipeDetector:
    """MediaPipe BlazeFace short-range through the Tasks API (imported only here).

    Its boxes are returned in the Haar cascade's framing, which the crop rule
    expects: side x HAAR_SIDE, centre moved by HAAR_DX, HAAR_DY box sides
    (medians over the shared frames where both found the face:
    `python -m fkd.train.tune DATA --mediapipe-model PATH`).
    """

    name = "mediapipe"
    HAAR_SIDE, HAAR_DX, HAAR_DY = 1.127, 0.0096, -0.1214
    HELP = ("the mediapipe detector needs blaze_face_short_range.tflite: download it from "
            "https://storage.googleapis.com/mediapipe-models/face_detector/blaze_face_short_range/"
            "float16/latest/blaze_face_short_range.tflite and pass --detector-model PATH")

    def __init__(self, model_path=None, min_confidence=0.5):
        if not model_path or not os.path.isfile(model_path):
            raise DetectorError(self.HELP if not model_path else f"{model_path}: no such file; " + self.HELP)
        try:
            from mediapipe.tasks.python import BaseOptions, vision
            import mediapipe as mp
        except ImportError:
            raise DetectorError("the mediapipe detector needs `pip install mediapipe`") from None
        self._mp = mp
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=model_path),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_confidence)
        self.task = vision.FaceDetector.create_from_options(options)

    def __call__(self, gray, bgr=None):
        rgb = cv2.cvtColor(bgr if bgr is not None else cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR),
                           cv2.COLOR_BGR2RGB)
        result = self.task.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb))
        boxes, scores = [], []
        for d in result.detections:
            b = d.bounding_box
            side = self.HAAR_SIDE * b.width
            cx = b.origin_x + b.width / 2 + self.HAAR_DX * b.width
            cy = b.origin_y + b.height / 2 + self.HAAR_DY * b.width
            boxes.append((cx - side / 2, cy - side / 2, side, side))
            scores.append(d.categories[0].score if d.categories else 0.0)
        if not boxes:
            return np.zeros((0, 4)), np.zeros(0)
        return np.asarray(boxes, dtype=np.float64), np.asarray(scores)

    def close(self):
        self.task.close()


DETECTORS = {"haar": HaarDetector, "mediapipe": MediaPipeDetector}


def make_detector(name, **options):
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise DetectorError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}") from None
    return cls(**options)
