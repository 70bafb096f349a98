"""Smoothing a tracked face's points over frames without lagging its motion.

Each frame's points are one crop's answer, and video mode shows the members the other view
(the mirrored crop) on every second frame, so the points jitter by the views' disagreement.
A filter on the points themselves (One Euro, which fkd used before) averages that away on a
still face but lags a moving one: on moving clips (`fkd-eval --mode video --motion`) it cost
more than it gave. So the two parts of the points are smoothed apart. The shape, aligned to
the face's pose by a similarity fit, is averaged over frames: head motion does not reach it.
The pose stays this frame's, through a three-tap filter that passes steady motion without lag
and cancels an alternation from frame to frame. Then moves far smaller than a `steady` band are
mostly taken as noise, so a still face stops shimmering while a moving one is followed at once.
"""

import numpy as np

from .crop import similarity

# out_t = 0.75 p_t + 0.5 p_t-1 - 0.25 p_t-2: gain 1 and no delay on a face moving at constant
# speed (the taps sum to 1, and their first moment is 0), gain 0 on +-d alternating every frame
POSE_TAPS = (-0.25, 0.5, 0.75)


class ShapePoseSmoother:
    """Filters one face's (k, 2) points frame by frame; `shape_alpha` weighs the new frame's shape."""

    def __init__(self, shape_alpha=0.25, steady=0.0):
        self.shape_alpha, self.steady = shape_alpha, steady
        self.shape = None          # (k, 2), centroid 0, RMS radius 1
        self.history = []          # the last frames' shape-smoothed points, for the pose taps
        self.out = None            # the last points returned

    @staticmethod
    def _normalized(points):
        c = points - points.mean(axis=0)
        return c / np.sqrt((c ** 2).sum(axis=1).mean())

    def __call__(self, points):
        points = np.asarray(points, dtype=np.float64)
        if self.shape is None:
            self.shape = self._normalized(points)
        else:
            r, t = similarity(self.shape, points)
            aligned = (points - t) @ r / (r[0, 0] ** 2 + r[1, 0] ** 2)   # r's inverse is r.T over its scale squared
            self.shape = self._normalized((1 - self.shape_alpha) * self.shape + self.shape_alpha * aligned)
        r, t = similarity(self.shape, points)
        self.history = (self.history + [self.shape @ r.T + t])[-len(POSE_TAPS):]
        new = self.history[-1] if len(self.history) < len(POSE_TAPS) else sum(
            w * p for w, p in zip(POSE_TAPS, self.history))
        self.out = self._steadied(new) if self.steady and self.out is not None else new
        return self.out

    def _steadied(self, new):
        """A move much smaller than `steady` (RMS, in eye distances) is mostly noise: it is taken by a share
        that grows with its fourth power, so a still face settles while a moving one is followed at once."""
        iod = np.linalg.norm(new[0] - new[1])
        d2 = ((new - self.out) ** 2).sum(axis=1).mean() / max(iod, 1e-6) ** 2
        share = d2 ** 2 / (d2 ** 2 + self.steady ** 4)
        return self.out + share * (new - self.out)
