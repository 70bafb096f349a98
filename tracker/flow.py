"""Carrying a face's points from one frame to the next by optical flow, where the models rest.

Pyramidal Lucas-Kanade follows each point into the new frame and back again; where the way back
misses the start (occlusion, blur, a point on a featureless cheek), the flow is not trusted and
the face goes to the models on this frame instead. Only a region around the face is searched, scaled
so the eyes are EYE_PX apart: one window fits every face size, and the cost grows with neither the
frame nor the face.
"""

import cv2
import numpy as np

from .crop import fit_similarity

# a point whose forward-backward error exceeds this (eye distances) failed; more than MAX_FAILED
# failed points and the whole face goes to the models
FB_LIMIT = 0.05
MAX_FAILED = 2
# a point on a patch without structure can go and come back alike, far from where the face went: one that
# ends further than this (eye distances) from where the face's other points take it failed too
RIGID_LIMIT = 0.1
# a 7 px window at 40 px between the eyes; 3 pyramid levels follow a move of half an eye distance a frame
EYE_PX = 40.0
LK = dict(winSize=(7, 7), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
# the region searched: the points' bounding box grown by this many eye distances on each side
MARGIN = 1.0


def carry(prev, gray, sets):
    """(n, k, 2) point sets of `prev` (a grayscale frame), each a face's points, moved into `gray`
    together; a set the flow cannot be trusted for comes back nan, as does one that came in nan."""
    sets = np.asarray(sets, np.float64)
    out = np.full_like(sets, np.nan)
    known = np.isfinite(sets).all(axis=(1, 2))
    if not known.any():
        return out
    pts = sets[known].reshape(-1, 2)
    eye = float(np.linalg.norm(sets[known][:, 0] - sets[known][:, 1], axis=1).mean())
    if not eye > 0:
        return out
    h, w = gray.shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(axis=0) - MARGIN * eye), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0) + MARGIN * eye), (w, h)).astype(int)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return out
    s = EYE_PX / eye
    size = (max(8, round((x1 - x0) * s)), max(8, round((y1 - y0) * s)))
    # linear: an area resize of a region costs several times the flow itself
    a, b = (cv2.resize(f[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR) for f in (prev, gray))
    scale = (size[0] / (x1 - x0), size[1] / (y1 - y0))
    p0 = ((pts - (x0, y0)) * scale).astype(np.float32).reshape(-1, 1, 2)
    p1, ok, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, **LK)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **LK)
    error = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
    failed = ((ok.ravel() == 0) | (ok_back.ravel() == 0) | ~(error <= FB_LIMIT * EYE_PX)).reshape(-1, sets.shape[1])
    moved = (p1.reshape(-1, sets.shape[1], 2).astype(np.float64) / scale + (x0, y0))
    start = sets[known]
    for i in range(len(moved)):
        bad = failed[i]
        if bad.sum() <= MAX_FAILED:
            eye_i = np.linalg.norm(start[i, 0] - start[i, 1])
            off = np.linalg.norm(moved[i] - fit_similarity(start[i], moved[i], ~bad), axis=1)
            bad = bad | (off > RIGID_LIMIT * eye_i)
        if bad.sum() > MAX_FAILED:
            moved[i] = np.nan
        elif bad.any():
            # a failed point's flow may have run anywhere: it moves as the face's trusted points do
            moved[i, bad] = fit_similarity(start[i], moved[i], ~bad)[bad]
    out[known] = moved
    return out
