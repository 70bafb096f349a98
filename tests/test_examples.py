"""The examples run on the demo clip from outside the checkout and write what they promise."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT

EXAMPLES = os.path.join(ROOT, "examples")


def run_example(name, cwd, *args):
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    return r.stdout


def video_frames(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


@pytest.mark.parametrize("name, out", [("head_pose.py", "head-pose.mp4"), ("ar_overlay.py", "ar-overlay.mp4")])
def test_video_examples_draw_on_every_frame(name, out, tmp_path):
    stdout = run_example(name, tmp_path, "--frames", "12")
    drawn, plain = video_frames(tmp_path / out), video_frames(os.path.join(EXAMPLES, "demo.mp4"))[:12]
    assert len(drawn) == 12
    # something was drawn on each frame: many pixels differ from the clip's own
    assert all((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 60).sum() > 200 for a, b in zip(drawn, plain))
    if name == "head_pose.py":
        assert stdout.count("yaw") == 12


def test_align_faces_writes_level_crops(tmp_path):
    run_example("align_faces.py", tmp_path, "--frames", "31")
    crops = sorted((tmp_path / "aligned").glob("*.png"))
    assert len(crops) == 3   # frames 0, 15, 30
    import fkd

    checked = 0
    with fkd.FaceTracker(fkd.TrackerOptions(mode="image")) as t:
        for path in crops:
            img = cv2.imread(str(path))
            assert img.shape == (112, 112, 3)
            faces = t.process(cv2.copyMakeBorder(cv2.resize(img, (336, 336)), 150, 150, 150, 150, cv2.BORDER_CONSTANT))
            if faces:   # the crop, enlarged and framed for the detector, read again
                left, right = (faces[0].keypoints[:2] - 150) / 3
                assert abs(left[1] - right[1]) < 4 and 28 < left[0] - right[0] < 42   # level, about 35 px apart
                checked += 1
    assert checked >= 2
