"""The one crop rule: face box -> square 96x96 grayscale crop, and back.

Training crops and tracking crops come from this module alone, so the models
see at run time exactly the framing they were trained on. Coordinates are
pixel centres (pixel (0, 0) is the point (0, 0)), as in Kaggle's labels and
OpenCV's warps.
"""

from dataclasses import asdict, dataclass
from functools import cached_property

import cv2
import numpy as np

from .keypoints import INDEX

CROP_SIZE = 96
# the mean face in crops of the Haar boxes of ../shared/data/youtube-faces-68 under the default rule, px
# (`python -m fkd.train.tune ../shared/data/youtube-faces-68` prints it)
MEAN_SHAPE = ((64.78, 35.74), (29.18, 36.09), (57.77, 36.08), (71.42, 35.41), (36.07, 36.33), (22.53, 35.82),
              (57.1, 24.26), (78.79, 26.42), (36.49, 24.53), (14.38, 27.03), (47.97, 56.93), (61.98, 75.01),
              (33.08, 75.3), (47.95, 70.81), (48.15, 82.5))


@dataclass(frozen=True)
class CropRule:
    """How a detector box becomes a square crop, and how keypoints become a box.

    `scale` and `shift_y` were fitted on Haar boxes of real faces
    (`python -m fkd.train.tune DATA`) so that the crop frames a face as Kaggle's
    images do: eye centres about 36 px apart, about 37 px from the top.
    `box_*` place a detector-like box on a face from its keypoints: tracking
    between detections, and a stand-in where the detector missed a face
    in training data. They make the mean face a fixed point (crop -> points
    -> the same box), so tracking does not drift. `mean_shape` is that mean
    face in the crop (px, rows in tracker.keypoints.NAMES order), fitted with
    the rest (`train.data.fit_crop_rule`).
    """

    size: int = CROP_SIZE
    scale: float = 0.9797     # crop side / box side
    shift_y: float = 0.0092   # crop centre below box centre, in box sides
    box_dx: float = -0.0521   # box centre - keypoint centroid, in shape sizes
    box_dy: float = -0.3275
    box_side: float = 4.268   # box side / shape size
    mean_shape: tuple = MEAN_SHAPE

    def to_dict(self):
        return asdict(self)

    @cached_property
    def mean_face(self):
        """`mean_shape` as an array, made once: boxes are placed from it every frame."""
        return np.asarray(self.mean_shape, dtype=np.float64)

    @classmethod
    def from_dict(cls, d):
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "mean_shape" in d:
            d["mean_shape"] = tuple(tuple(float(v) for v in row) for row in d["mean_shape"])
        return cls(**d)

    def square(self, box):
        """Centre and side of the crop square for an (x, y, w, h) box."""
        x, y, w, h = (float(v) for v in box)
        side = self.scale * max(w, h)
        return x + w / 2.0, y + h / 2.0 + self.shift_y * h, side

    def matrix(self, box, angle=0.0):
        """2x3 affine taking image coordinates to crop coordinates.

        `angle` (radians) is the face's roll (see roll()): the crop turns it upright about the
        square's centre, as MediaPipe turns its landmark crops.
        """
        cx, cy, side = self.square(box)
        s = self.size / side
        c, n = s * np.cos(angle), s * np.sin(angle)
        # crop pixel u covers image [cx - side/2 + u/s, ...]; centres at +0.5
        h = self.size / 2.0 - 0.5
        return np.array([[c, n, h - c * cx - n * cy],
                         [-n, c, h + n * cx - c * cy]], dtype=np.float64)

    def box_from_keypoints(self, points):
        """A detector-like (x, y, w, h) box for a face with these (15, 2) keypoints.

        The box is placed from the mean face fitted to the rows present (not NaN) by a similarity
        (least squares), so one point's error weighs a fifteenth, not a quarter: the shape size is
        the RMS distance of the fitted eye centres, nose tip and bottom lip from their centroid,
        which changes little with head turn. Placed from the points' own four anchors, a tracked
        face's box followed the models' error and drifted (docs/experiments.md).
        """
        p = np.asarray(points, dtype=np.float64)
        ok = ~np.isnan(p).any(axis=1)
        p = fit_similarity(self.mean_face, p, ok)[ANCHORS]
        centroid = p.mean(axis=0)
        size = np.sqrt(((p - centroid) ** 2).sum(axis=1).mean())
        side = self.box_side * size
        cx = centroid[0] + self.box_dx * size
        cy = centroid[1] + self.box_dy * size
        return np.array([cx - side / 2.0, cy - side / 2.0, side, side])


def similarity(src, dst):
    """(2x2 scaled rotation R, t) of the least-squares fit dst ~ src @ R.T + t, for (k, 2) arrays
    whose src is centred (its mean 0)."""
    md = dst.mean(axis=0)
    d = dst - md
    n = np.einsum("ij,ij->", src, src)
    a = np.einsum("ij,ij->", src, d) / n
    b = (src[:, 0] @ d[:, 1] - src[:, 1] @ d[:, 0]) / n
    return np.array([[a, -b], [b, a]]), md


def fit_similarity(shape, points, rows):
    """All rows of (n, 2) `shape` moved, scaled and turned onto `points`, least squares over `rows`."""
    shape = shape - shape[rows].mean(axis=0)
    r, t = similarity(shape[rows], points[rows])
    return shape @ r.T + t


ANCHORS = [INDEX[n] for n in ("left_eye_center", "right_eye_center", "nose_tip",
                              "mouth_center_bottom_lip")]


EYES = [INDEX["left_eye_center"], INDEX["right_eye_center"]]


def roll(points, limit=np.pi / 4):
    """The face's roll in radians from its (15, 2) keypoints: the angle of the line from the right eye
    centre to the left (the subject's), clipped to +-45 degrees (the Haar cascade finds no face rolled
    further, so beyond that the points are wrong)."""
    d = points[EYES[0]] - points[EYES[1]]
    return float(np.clip(np.arctan2(d[1], d[0]), -limit, limit))


def crop(gray, box, rule=CropRule(), angle=0.0):
    """96x96 uint8 crop of a grayscale image and the image->crop affine.

    Large faces are first halved with a Gaussian pyramid on the region alone,
    so the bilinear warp never shrinks by more than 2 (no aliasing).
    """
    m = rule.matrix(box, angle)
    cx, cy, side = rule.square(box)
    s = rule.size / side
    half = side / 2.0 * (abs(np.cos(angle)) + abs(np.sin(angle)))   # of the turned square's bounds
    h, w = gray.shape[:2]
    x0 = int(max(0, np.floor(cx - half) - 2))
    y0 = int(max(0, np.floor(cy - half) - 2))
    x1 = int(min(w, np.ceil(cx + half) + 3))
    y1 = int(min(h, np.ceil(cy + half) + 3))
    if x1 <= x0 or y1 <= y0:  # box wholly outside the image
        x0, y0, x1, y1 = 0, 0, w, h
    region = gray[y0:y1, x0:x1]
    level = 0
    while s * 2 ** level < 0.5 and min(region.shape[:2]) >= 4:
        region = cv2.pyrDown(region)
        level += 1
    # image point = (x0, y0) + 2**level * region point
    mr = np.hstack([m[:, :2] * 2 ** level, m[:, :2] @ [[x0], [y0]] + m[:, 2:]])
    out = cv2.warpAffine(region, mr, (rule.size, rule.size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return out, m


def to_image(points, m):
    """Map (..., 2) crop coordinates back to the image with image->crop affine `m`."""
    p = np.asarray(points, dtype=np.float64)
    inv = cv2.invertAffineTransform(m)
    return p @ inv[:, :2].T + inv[:, 2]


def to_crop(points, m):
    p = np.asarray(points, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]
