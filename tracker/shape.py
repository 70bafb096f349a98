"""A quadratic correction of the ensemble's 15 points in face-shape space.

The CNNs pull the points of turned and unusual faces towards the average face: on a face turned
aside, the nose tip and lips are placed too near the middle. The pull depends on the shape the
points already have, so a ridge regression on that shape (its coordinates, and the products of its
first principal components), fitted on the training persons' answers (`python -m fkd.train.shape_fit`),
moves them back. It works in the face's own frame (origin at the points' centroid, x along the eye
line, one unit per eye distance), so the framing, size and roll of the face do not matter, and it
costs a few microseconds a face.
"""

import numpy as np

LEFT_EYE, RIGHT_EYE = 0, 1   # rows of tracker.keypoints.NAMES


def face_frame(points):
    """(origin (n, 2), axes (n, 2, 2) as rows x, y, scale (n,)) of (n, 15, 2) points."""
    origin = points.mean(axis=1)
    eye_line = points[:, LEFT_EYE] - points[:, RIGHT_EYE]
    scale = np.maximum(np.hypot(eye_line[:, 0], eye_line[:, 1]), 1e-6)
    x = eye_line / scale[:, None]
    axes = np.stack([x, np.stack([-x[:, 1], x[:, 0]], axis=1)], axis=1)
    return origin, axes, scale


def to_face(points, frame):
    origin, axes, scale = frame
    return np.einsum("nkd,ned->nke", points - origin[:, None], axes) / scale[:, None, None]


def from_face(shape, frame):
    origin, axes, scale = frame
    return np.einsum("nke,ned->nkd", shape * scale[:, None, None], axes) + origin[:, None]


class ShapeCorrection:
    def __init__(self, mean, basis, z_limit, weights):
        self.mean, self.basis, self.z_limit, self.weights = mean, basis, z_limit, weights
        self.pairs = np.triu_indices(len(basis))   # once: building it is most of a call's time

    def features(self, shape):
        """(n, 30) face-frame shapes -> (n, 31 + k (k + 1) / 2) regression inputs."""
        # components clipped to the training range: a quadratic must not run away on a shape it never saw
        z = np.clip((shape - self.mean) @ self.basis.T, -self.z_limit, self.z_limit)
        i, j = self.pairs
        return np.concatenate([shape, np.ones((len(shape), 1)), z[:, i] * z[:, j]], axis=1)

    def __call__(self, points):
        """(n, 15, 2) points in any pixel frame -> the same, corrected."""
        given = np.asarray(points)
        if len(given) == 0:
            return given
        points = given.astype(np.float64)
        frame = face_frame(points)
        shape = to_face(points, frame).reshape(len(points), -1)
        shape = shape + self.features(shape) @ self.weights
        return from_face(shape.reshape(points.shape), frame).astype(given.dtype)

    @classmethod
    def fit(cls, predicted, truth, components, ridge):
        """Fitted on (n, 15, 2) answers and their true points, in the answers' face frames."""
        frame = face_frame(np.asarray(predicted, dtype=np.float64))
        p = to_face(predicted, frame).reshape(len(predicted), -1)
        t = to_face(np.asarray(truth, dtype=np.float64), frame).reshape(len(truth), -1)
        mean = t.mean(axis=0)
        basis = np.linalg.svd(t - mean, full_matrices=False)[2][:components]
        z_limit = np.abs((p - mean) @ basis.T).max(axis=0)
        c = cls(mean, basis, z_limit, None)
        x = c.features(p)
        c.weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ (t - p))
        return c

    def save(self, path):
        np.savez(path, mean=self.mean, basis=self.basis, z_limit=self.z_limit, weights=self.weights)

    @classmethod
    def load(cls, path):
        with np.load(path) as f:
            return cls(f["mean"], f["basis"], f["z_limit"], f["weights"])
