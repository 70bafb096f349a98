"""Head pose, confidence and the CSV output."""

import csv

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fkd import FaceTracker, TrackerOptions, cli
from fkd.demo import frames, photo, write_clip
from fkd.keypoints import NAMES
from fkd.pose import FACE_3D, camera, head_pose


def rotation(yaw, pitch, roll):
    """The rotation that turns the face model by these angles, in fkd.pose's conventions."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.mark.parametrize("yaw, pitch, roll", [(0, 0, 0), (25, 0, 0), (0, 15, 0), (0, 0, 12), (-20, -10, 5)])
def test_pose_of_a_projected_model_and_its_signs(yaw, pitch, roll):
    shape = (480, 640)
    r = rotation(yaw, pitch, roll)
    pts = cv2.projectPoints(FACE_3D, cv2.Rodrigues(r)[0], np.array([1.0, -2.0, 55.0]), camera(shape), None)[0][:, 0]
    p = head_pose(pts, shape)
    if (yaw, pitch, roll).count(0) == 2:   # one angle alone is recovered exactly
        assert (p.yaw, p.pitch, p.roll) == pytest.approx((yaw, pitch, roll), abs=0.5)
    eyes, nose = pts[:2].mean(axis=0), pts[NAMES.index("nose_tip")]
    assert np.sign(nose[0] - eyes[0] - 0.5) == np.sign(p.yaw) or abs(yaw) < 1   # turned right: nose right
    if roll and not yaw and not pitch:
        assert (pts[0, 1] > pts[1, 1]) == (p.roll > 0)   # clockwise: the face's left eye (image right) lower


def test_roll_follows_the_demo_clips_known_turn(shipped_models):
    """The demo photo is turned by 12 sin(2 pi t) degrees counter-clockwise: the face's roll goes the other way."""
    n = 30
    t = np.arange(n) / (n - 1)
    turn = 12.0 * np.sin(2 * np.pi * t)
    with FaceTracker(TrackerOptions(models_dir=shipped_models)) as tracker:
        rolls = [tracker.process(f)[0].pose.roll for f, _ in frames(n)]
    rolls = np.array(rolls) - rolls[0]
    assert np.corrcoef(rolls, -turn)[0, 1] > 0.95
    assert np.median(np.abs(rolls + turn)) < 1.5 and np.abs(rolls + turn).max() < 8   # measured 0.6 and 5.8


def test_confidence_is_reported_and_min_confidence_drops(shipped_models):
    frame = photo()
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="image")) as t:
        face = t.process(frame)[0]
    assert 0 < face.confidence <= 1 and face.uncertainty.shape == (15,)
    assert np.all((0 < face.point_confidence) & (face.point_confidence <= 1))
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="image", min_confidence=face.confidence + 1e-3)) as t:
        assert t.process(frame) == []
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="image", refine=0)) as t:
        assert t.process(frame)[0].confidence is None   # one crop: no views to compare


def test_csv_output(tmp_path, shipped_models):
    clip = str(tmp_path / "c.mp4")
    write_clip(clip, n=6)
    r = CliRunner().invoke(cli.main, ["--video", clip, "--csv", str(tmp_path / "p.csv"), "--models", shipped_models])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert len(rows) == 6 and all(row["success"] == "1" and row["face_id"] == "0" for row in rows)
    assert float(rows[1]["timestamp"]) == pytest.approx(1 / 30, abs=1e-3)
    assert {f"x_{n}" for n in NAMES} <= set(rows[0]) and rows[0]["pose_yaw"] != ""
    cv2.imwrite(str(tmp_path / "empty.png"), np.full((200, 200, 3), 90, np.uint8))
    r = CliRunner().invoke(cli.main, ["--images", str(tmp_path / "empty.png"), "--csv", str(tmp_path / "i.csv"),
                                      "--models", shipped_models])
    rows = list(csv.DictReader(open(tmp_path / "i.csv")))
    assert r.exit_code == 0 and len(rows) == 1 and rows[0]["success"] == "0"


def test_a_face_turned_beyond_training_is_flagged():
    shape = (480, 640)
    for yaw, turned in ((0, False), (20, False), (45, True), (-45, True)):
        pts = cv2.projectPoints(FACE_3D, cv2.Rodrigues(rotation(yaw, 0, 0))[0], np.array([0.0, 0.0, 60.0]),
                                camera(shape), None)[0][:, 0]
        assert head_pose(pts, shape).turned == turned


def test_a_group_photo_of_small_faces_is_found_whole(shipped_models):
    """Seven faces about 55 px across in a 640x400 photo: the default image mode finds each one."""
    from fkd.demo import GRACE_HOPPER_KEYPOINTS
    from fkd.train.evaluate import eye_offset

    img = photo()
    canvas = np.full((400, 640, 3), 70, np.uint8)
    truths = []
    for k in range(7):
        iod = 20.0 + k
        s = iod / np.linalg.norm(GRACE_HOPPER_KEYPOINTS[0] - GRACE_HOPPER_KEYPOINTS[1])
        cx, cy = 80 + (k % 4) * 160, 110 + (k // 4) * 190
        m = np.array([[s, 0, cx - s * GRACE_HOPPER_KEYPOINTS[:, 0].mean()], [0, s, cy - s * GRACE_HOPPER_KEYPOINTS[:, 1].mean()]])
        small = cv2.warpAffine(img, m, (640, 400), borderValue=(0, 0, 0))
        mask = cv2.warpAffine(np.ones(img.shape[:2], np.uint8), m, (640, 400)) > 0
        canvas[mask] = small[mask]
        truths.append(GRACE_HOPPER_KEYPOINTS @ m[:, :2].T + m[:, 2])
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="image")) as t:
        faces = t.process(canvas)
    assert all(any(eye_offset(f.keypoints, tr) < 0.5 for f in faces) for tr in truths)
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="video")) as t:   # video keeps its fast settings
        assert len(t.process(canvas)) < 7
