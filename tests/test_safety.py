"""fkd-track never loses a user's data: outputs that name inputs, failed runs, failed writes, signals,
concurrent runs, bad options, half-read inputs, and bad frames given to the Python API."""

import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fkd import FaceTracker, OptionError, TrackerOptions, cli
from fkd.demo import frames, photo, write_clip


def track(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def digest(path):
    return hashlib.sha1(open(path, "rb").read()).hexdigest()


def frames_in(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def one_line(r, code, *words):
    assert r.exit_code == code, r.output
    lines = [l for l in r.output.strip().splitlines() if l.startswith("fkd-track:")]
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("clip") / "clip.mp4")
    write_clip(path, n=30, size=(320, 240))
    return path


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("long") / "long.mp4")
    write_clip(path, n=900, size=(320, 240))
    return path


def test_an_output_that_names_an_input_is_refused_and_the_input_kept(clip, tmp_path, shipped_models):
    before = digest(clip)
    one_line(track("--video", clip, "--out", clip, "--models", shipped_models), 2, "input video")
    one_line(track("--video", clip, "--json", clip, "--models", shipped_models), 2, "input video")
    link = tmp_path / "link.mp4"
    os.symlink(clip, link)
    one_line(track("--video", clip, "--out", str(link), "--models", shipped_models), 2, "input video")
    assert digest(clip) == before
    (tmp_path / "photos").mkdir()
    cv2.imwrite(str(tmp_path / "photos" / "a.png"), photo())
    photo_before = digest(tmp_path / "photos" / "a.png")
    one_line(track("--images", str(tmp_path / "photos"), "--out", str(tmp_path / "photos"), "--models",
                   shipped_models), 2, "input images")
    assert digest(tmp_path / "photos" / "a.png") == photo_before


def test_photos_of_one_name_from_two_folders_keep_their_own_copies(tmp_path, shipped_models):
    for sub, size in (("x", 1.0), ("y", 0.6)):
        (tmp_path / sub).mkdir()
        cv2.imwrite(str(tmp_path / sub / "a.png"), cv2.resize(photo(), None, fx=size, fy=size))
    r = track("--images", str(tmp_path / "*" / "a.png"), "--out", str(tmp_path / "drawn"), "--models", shipped_models)
    assert r.exit_code == 0, r.output
    shapes = {cv2.imread(str(tmp_path / "drawn" / sub / "a.png")).shape for sub in "xy"}
    assert len(shapes) == 2


def test_a_run_that_fails_before_its_first_frame_leaves_outputs_as_they_were(clip, tmp_path, shipped_models):
    out, js = tmp_path / "o.mp4", tmp_path / "p.jsonl"
    out.write_bytes(b"an earlier video")
    js.write_text('{"earlier": true}\n')
    one_line(track("--video", clip, "--out", str(out), "--json", str(js), "--models", str(tmp_path)), 2, "manifest")
    one_line(track("--camera", "97", "--no-show", "--out", str(out), "--json", str(js), "--models", shipped_models),
             2, "camera 97")
    assert out.read_bytes() == b"an earlier video" and js.read_text() == '{"earlier": true}\n'
    assert not glob.glob(str(tmp_path / ".*partial*"))   # no temporary file left behind


REAL_WRITER = cv2.VideoWriter


class DroppingWriter:
    """A cv2.VideoWriter that silently loses every second frame, as a full disk does."""

    def __init__(self, *args):
        self.w, self.n = REAL_WRITER(*args), 0

    def isOpened(self):
        return self.w.isOpened()

    def write(self, frame):
        self.n += 1
        if self.n % 2:
            self.w.write(frame)

    def release(self):
        self.w.release()


def test_a_failed_write_is_an_error_that_counts_what_was_written(clip, tmp_path, shipped_models, monkeypatch):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"an earlier video")
    monkeypatch.setattr(cv2, "VideoWriter", DroppingWriter)
    one_line(track("--video", clip, "--out", str(out), "--models", shipped_models), 1, "kept 15 of the 30 frames")
    assert out.read_bytes() == b"an earlier video"
    monkeypatch.undo()
    # a full disk under the JSON Lines: a one-line error, exit 1
    one_line(track("--video", clip, "--json", "/dev/full", "--models", shipped_models), 1, "write failed after 0 lines")
    # an annotated image that could not be written
    cv2.imwrite(str(tmp_path / "a.png"), photo())
    monkeypatch.setattr(cv2, "imwrite", lambda *a, **k: False)
    one_line(track("--images", str(tmp_path / "a.png"), "--out", str(tmp_path / "drawn"), "--models", shipped_models),
             1, "could not be written")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_signals_leave_a_playable_partial_video_and_whole_json_lines(long_clip, tmp_path, shipped_models, sig, code):
    out, js = tmp_path / "o.mp4", tmp_path / "p.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "fkd.cli", "--video", long_clip, "--out", str(out), "--json", str(js),
                          "--models", shipped_models], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not glob.glob(str(tmp_path / ".p.*partial.jsonl")):
        time.sleep(0.05)
    time.sleep(0.5)   # some frames done
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    line = [l for l in err.splitlines() if "stopped by" in l][0]
    n = int(line.split(" after ")[1].split()[0])
    assert 0 < n < 900 and f"stopped by {signal.Signals(sig).name}" in line
    assert frames_in(out) == n
    rows = [json.loads(l) for l in js.read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(n))


def test_two_runs_writing_the_same_outputs_leave_one_whole_result(clip, tmp_path, shipped_models):
    out, js = tmp_path / "o.mp4", tmp_path / "p.jsonl"
    cmd = [sys.executable, "-m", "fkd.cli", "--video", clip, "--out", str(out), "--json", str(js), "--models",
           shipped_models]
    runs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    assert [r.wait(timeout=120) for r in runs] == [0, 0]
    assert frames_in(out) == 30
    assert [json.loads(l)["frame"] for l in js.read_text().splitlines()] == list(range(30))


@pytest.mark.parametrize("option, value", [("--max-faces", "0"), ("--detect-every", "0"), ("--threads", "0"),
                                           ("--camera", "-1"), ("--refine", "9")])
def test_numeric_options_out_of_range_are_refused_in_one_line(clip, option, value, shipped_models):
    args = [option, value] + ([] if option == "--camera" else ["--video", clip])
    one_line(track(*args, "--models", shipped_models), 2, option)


def test_half_read_and_wrong_inputs_are_said(tmp_path, shipped_models):
    # a video that stops decoding before its header's count: a warning naming both counts
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for f, _ in frames(30, (320, 240)):
        writer.write(f)
    writer.release()
    data = path.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    r = track("--video", str(tmp_path / "cut.avi"), "--json", str(tmp_path / "p.jsonl"), "--models", shipped_models)
    assert r.exit_code == 0, r.output
    warning = [l for l in r.output.splitlines() if "warning" in l][0]
    n = len((tmp_path / "p.jsonl").read_text().splitlines())
    assert f"decoded {n} of the 30 frames" in warning and 0 < n < 30
    # an image given as a video; a video output named as an image
    cv2.imwrite(str(tmp_path / "a.jpg"), photo())
    one_line(track("--video", str(tmp_path / "a.jpg"), "--models", shipped_models), 2, "is an image")
    one_line(track("--video", str(path), "--out", str(tmp_path / "x.png"), "--models", shipped_models), 2, ".mp4")
    # an unreadable image: a JSON line with an error, counted in the last line
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    r = track("--images", str(tmp_path / "*.jpg"), "--json", str(tmp_path / "i.jsonl"), "--models", shipped_models)
    assert r.exit_code == 0, r.output
    rows = [json.loads(l) for l in (tmp_path / "i.jsonl").read_text().splitlines()]
    assert [("error" in row) for row in rows] == [False, True]
    assert "1 unreadable" in r.output.strip().splitlines()[-1]


def test_the_api_says_what_frame_it_takes(shipped_models):
    with FaceTracker(TrackerOptions(models_dir=shipped_models, mode="image")) as t:
        for bad, kind, words in [(None, TypeError, "numpy array"), (np.zeros((8, 8, 3)), TypeError, "uint8"),
                                 (np.zeros((8, 8, 1), np.uint8), ValueError, "(H, W, 3)"),
                                 (np.zeros((0, 8, 3), np.uint8), ValueError, "empty")]:
            with pytest.raises(kind, match=None) as e:
                t.process(bad)
            assert words in str(e.value)
        bgra = cv2.cvtColor(photo(), cv2.COLOR_BGR2BGRA)
        assert len(t.process(bgra)) == 1


@pytest.mark.parametrize("field, value", [("max_faces", 0), ("threads", 0), ("detect_every", 0), ("refine", -1),
                                          ("mode", "movie"), ("hold", 0.3), ("doubt", 0), ("shape_alpha", 1.5)])
def test_options_validate_themselves(field, value):
    with pytest.raises(OptionError) as e:
        TrackerOptions(**{field: value})
    assert isinstance(e.value, ValueError) and f"TrackerOptions.{field}" in str(e.value)


def test_timestamps_must_increase(shipped_models):
    frame = photo()
    with FaceTracker(TrackerOptions(models_dir=shipped_models)) as t:
        t.process(frame, 0)
        t.process(frame, 33)
        with pytest.raises(ValueError, match="increase"):
            t.process(frame, 33)
        with pytest.raises(ValueError, match="every frame"):
            t.process(frame)
