"""The tracker's smoothing and the moving clips it is measured on."""

import numpy as np

from fkd.demo import GRACE_HOPPER_KEYPOINTS
from fkd.smoothing import ShapePoseSmoother
from fkd.train.evaluate import moving_clip

FACE = GRACE_HOPPER_KEYPOINTS - GRACE_HOPPER_KEYPOINTS.mean(axis=0)


def test_views_alternating_on_a_still_face_cancel():
    """Two views that disagree by a shift and a shape change, frame by frame, settle to their average."""
    rng = np.random.default_rng(0)
    bend = rng.normal(0, 1.5, FACE.shape)
    smoother = ShapePoseSmoother()
    for i in range(40):
        sign = 1 if i % 2 else -1
        out = smoother(FACE + 200 + sign * (np.array([3.0, -2.0]) + bend))
    assert np.abs(out - (FACE + 200)).max() < 0.2


def test_steady_motion_passes_without_lag():
    """A face moving and growing at a steady rate comes out where it is, not where it was."""
    smoother = ShapePoseSmoother()
    for i in range(20):
        points = FACE * (1 + 0.01 * i) + np.array([100 + 4.0 * i, 80 - 3.0 * i])
        out = smoother(points)
    assert np.abs(out - points).max() < 1e-6


def test_shape_noise_is_averaged():
    rng = np.random.default_rng(1)
    smoother = ShapePoseSmoother()
    raw, smoothed = [], []
    for i in range(200):
        points = FACE + np.array([50.0 + i, 60.0]) + rng.normal(0, 2.0, FACE.shape)
        out = smoother(points)
        if i >= 10:
            truth = FACE + np.array([50.0 + i, 60.0])
            raw.append(np.sqrt(((points - truth) ** 2).mean()))
            smoothed.append(np.sqrt(((out - truth) ** 2).mean()))
    assert np.mean(smoothed) < 0.75 * np.mean(raw)


def test_moving_clip_carries_the_true_points_with_the_photo():
    """Marks drawn at the true points are under the clip's true points in every frame."""
    photo = np.zeros((240, 320, 3), np.uint8)
    truth = GRACE_HOPPER_KEYPOINTS * 0.5
    for x, y in truth.round().astype(int):
        photo[y - 1:y + 2, x - 1:x + 2] = 255
    frames = list(moving_clip(photo, truth, 30, np.random.default_rng(0)))
    assert len(frames) == 30
    moved = [np.abs(t - truth).max() for _, t in frames]
    assert max(moved) > 10   # it does move
    for frame, true in frames:
        values = [frame[int(round(y)), int(round(x)), 0] for x, y in true]
        assert min(values) > 100


def test_steady_band_stills_noise_and_follows_motion():
    """With `steady`, a still face's frame-to-frame noise is averaged out, and a face moving a few pixels a
    frame is still followed where it is."""
    rng = np.random.default_rng(1)
    iod = np.linalg.norm(FACE[0] - FACE[1])
    wander = {}
    for steady in (0.0, 0.02):
        smoother = ShapePoseSmoother(steady=steady)
        outs = [smoother(FACE + 200 + rng.normal(0, 0.004 * iod, 2)) for _ in range(60)][10:]
        wander[steady] = np.sqrt(((np.array(outs) - np.mean(outs, axis=0)) ** 2).sum(axis=2).mean())
    assert wander[0.02] < 0.5 * wander[0.0]
    smoother = ShapePoseSmoother(steady=0.02)
    for i in range(30):
        points = FACE + np.array([100 + 3.0 * i, 80.0])
        out = smoother(points)
    assert np.abs(out - points).max() < 0.05 * iod
