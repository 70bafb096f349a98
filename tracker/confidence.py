"""How much to trust a face's points: the disagreement between the answers for different views of it.

fkd answers a face from more than one view: image mode (and a new face's first frame) crops it three
times, differently framed, turned and mirrored, and video mode shows the members the mirrored crop on
every second frame. Where the views agree the points are well determined; where they disagree (a face
turned far aside, blurred, half hidden, or no face at all) they are not. The spread is read from answers
the tracker computes anyway, so it costs nothing: unlike the members' disagreement inside the fused
graph, which the graph does not return. Units: Kaggle-scale px (36 px between the eyes), per point.
docs/experiments.md measures how well it ranks the actual error.
"""

import numpy as np

KAGGLE_IOD = 36.0
HALF_CONFIDENCE_PX = 2.0   # the uncertainty (Kaggle-scale px) at which a point's confidence is 0.5
VIDEO_WEIGHT = 0.2         # video mode: the newest frame's weight in a track's running uncertainty


def eye_scale(points):
    """(n,) Kaggle-scale px per frame px of (n, 15, 2) points: 36 over their eye distance."""
    return KAGGLE_IOD / np.maximum(np.linalg.norm(points[:, 0] - points[:, 1], axis=1), 1e-6)


def view_spread(answers):
    """(n, 15) Kaggle-scale px: RMS distance of (k, n, 15, 2) answers from their mean, per point."""
    mean = answers.mean(axis=0)
    rms = np.sqrt((np.linalg.norm(answers - mean, axis=-1) ** 2).mean(axis=0))
    return rms * eye_scale(mean)[:, None]


def running(uncertainty, points, smoothed, weight=VIDEO_WEIGHT):
    """A track's uncertainty after one more frame: the RMS over frames of the frame's points' distance
    from the smoothed face (the views alternate, so this is their disagreement), Kaggle-scale px."""
    resid = np.linalg.norm(points - smoothed, axis=1) * eye_scale(smoothed[None])[0]
    if uncertainty is None:
        return resid
    return np.sqrt((1 - weight) * uncertainty ** 2 + weight * resid ** 2)


def confidence(uncertainty):
    """In (0, 1]: 1 / (1 + (u / 2 px)^2), so 2 Kaggle-scale px of disagreement is 0.5."""
    return 1.0 / (1.0 + (np.asarray(uncertainty) / HALF_CONFIDENCE_PX) ** 2)
