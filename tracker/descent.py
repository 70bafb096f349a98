"""One supervised descent step (Xiong and De la Torre, 2013): HOG around each point, then a linear update.

The CNNs see a 96-px crop of the whole face. This step looks again at each point's own
neighbourhood, in a frame where the face is upright with 36 px between the eye centres (Kaggle's
scale), and moves all 15 points at once by a ridge regression on the 15 HOG descriptors, fitted on
the training persons' shape-corrected answers (`python -m fkd.train.shape_fit`).
"""

import cv2
import numpy as np

from .shape import face_frame

SIZE = 96            # the upright frame, px
EYES_PX = 36.0       # eye-centre distance in it
CELL, BINS = 8, 9    # HOG cells of 8 px, 9 orientations


def upright(points):
    """(2, 3) affine map from frame pixels to the upright frame of these (15, 2) points: tracker.shape's
    face frame, scaled to EYES_PX and centred."""
    origin, axes, scale = face_frame(points[None])
    a = axes[0] * (EYES_PX / scale[0])
    return np.c_[a, SIZE / 2.0 - a @ origin[0]]


class DescentStep:
    def __init__(self, window, mean, weights):
        self.window, self.mean, self.weights = int(window), mean, weights
        if weights is not None:   # the intercept with the features' mean taken out, once; float32 as
            self.offset = weights[-1] - mean @ weights[:-1]   # HOG gives, half the memory read a face
            self.slopes = weights[:-1].astype(np.float32)
        w = self.window
        self.hog = cv2.HOGDescriptor((w, w), (w, w), (CELL, CELL), (CELL, CELL), BINS)

    def features(self, gray, points):
        """HOG descriptors of the window around each point in the upright frame, and the map to it."""
        m = upright(points)
        face = cv2.warpAffine(gray, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        q = points @ m[:, :2].T + m[:, 2]
        corner = np.clip(np.rint(q - self.window / 2.0), 0, SIZE - self.window).astype(int)
        return self.hog.compute(face, (CELL, CELL), (0, 0), corner.tolist()).ravel(), m

    def update(self, points, features, m):
        """(15, 2) frame pixels, moved by the step its features ask for in the upright frame `m`."""
        step = (features @ self.slopes + self.offset).reshape(-1, 2)
        a = m[:, :2]   # a similarity: its inverse is its transpose over its scale squared
        return points + step @ a / (a[0, 0] ** 2 + a[0, 1] ** 2)

    def __call__(self, gray, points):
        """(n, 15, 2) frame pixels of faces in this grayscale frame -> the same, moved."""
        given = np.asarray(points)
        out = given.astype(np.float64)
        for i, p in enumerate(out):
            out[i] = self.update(p, *self.features(gray, p))
        return out.astype(given.dtype)

    @staticmethod
    def target(points, truth, m):
        """What the step should add to `points` in the upright frame `m`, flattened."""
        return ((truth - points) @ m[:, :2].T).ravel()

    @classmethod
    def fit(cls, window, features, targets, ridge):
        mean = features.mean(axis=0)
        x = np.c_[features - mean, np.ones(len(features))]
        weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ targets)
        return cls(window, mean, weights)

    def save(self, path):
        np.savez(path, window=self.window, mean=self.mean, weights=self.weights)

    @classmethod
    def load(cls, path):
        with np.load(path) as f:
            return cls(int(f["window"]), f["mean"], f["weights"])
