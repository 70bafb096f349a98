"""fkd-train --ray across a two-node cluster on this machine, one node killed mid-run; fkd-track --videos."""

import json
import os
import subprocess
import sys
import time

import cv2
import pytest

from conftest import ROOT, demo_kaggle_csv

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

EPOCHS = 14


@pytest.fixture
def two_nodes():
    """A head node without CPUs (it schedules nothing) and two worker nodes of two CPUs each."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=2) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, nodes
    cluster.shutdown()


def states(work):
    out = {}
    for seed in range(4):
        p = os.path.join(work, "4pts", f"seed{seed}", "state.json")
        try:
            with open(p) as f:
                out[seed] = json.load(f)
        except (OSError, ValueError):
            pass
    return out


def test_members_survive_a_killed_node(two_nodes, tmp_path):
    cluster, nodes = two_nodes
    csv_path = demo_kaggle_csv(str(tmp_path / "d.csv"), n=32)
    work = str(tmp_path / "w")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    p = subprocess.Popen([sys.executable, "-m", "fkd.train.cli", "--subset", "4pts", "--data", csv_path,
                          "--out", str(tmp_path / "m"), "--workdir", work, "--members", "4", "--epochs", str(EPOCHS),
                          "--batch-size", "8", "--dense", "16", "--widths", "8,8,8,8", "--quiet",
                          "--ray", cluster.address, "--cpus-per-member", "1"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # kill the second node once every member has checkpointed an epoch and none has finished
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        s = states(work)
        if len(s) == 4 and all(1 <= v["epoch"] < EPOCHS - 4 for v in s.values()):
            break
        time.sleep(0.2)
    assert p.poll() is None, p.communicate()[1][-2000:]
    before = {k: v["epoch"] for k, v in states(work).items()}
    cluster.remove_node(nodes[1])
    out, err = p.communicate(timeout=900)
    assert p.returncode == 0, err[-3000:]
    final = states(work)
    resumed = [k for k, v in final.items() if len(v["attempts"]) > 1]
    assert len(resumed) == 2, f"not the killed node's two members retried: {final}"
    for seed, s in final.items():
        # every epoch trained once into the history, whatever the interruption
        assert [h["epoch"] for h in s["history"]] == list(range(1, EPOCHS + 1))
        if seed in resumed:   # the retry resumed after the last checkpoint before the kill, not from scratch
            assert s["attempts"] == [0, s["attempts"][1]] and s["attempts"][1] >= before[seed] >= 1
    assert "exported" in out and os.path.isfile(tmp_path / "m" / "manifest.json")


def write_clip(path, n=20):
    from fkd.demo import frames

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for frame, _ in frames(n, (320, 240)):
        w.write(frame)
    w.release()


def test_a_collection_of_videos_runs_resumes_and_fails_one_alone(tmp_path):
    videos = tmp_path / "in"
    (videos / "sub").mkdir(parents=True)
    write_clip(videos / "a.avi")
    write_clip(videos / "sub" / "b.avi", n=12)
    (videos / "bad.avi").write_bytes(b"RIFF" + bytes(2000))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fkd.cli", "--videos", str(videos / "**" / "*.avi"), "--out-dir", str(out),
           "--outputs", "video,jsonl,csv"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1, r.stderr[-2000:]
    assert last.startswith("3 videos: 2 tracked, 0 skipped") and "1 failed" in last and "bad.avi" in last, last
    assert len((out / "a.jsonl").read_text().splitlines()) == 20
    assert len((out / "sub" / "b.jsonl").read_text().splitlines()) == 12
    cap = cv2.VideoCapture(str(out / "sub" / "b.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    cap.release()
    assert (out / "a.csv").read_text().startswith("frame,timestamp")
    assert not [f for f in os.listdir(out) if "partial" in f]
    mtime = os.path.getmtime(out / "a.mp4")
    # a rerun skips what is complete and tries the bad one again
    (out / "sub" / "b.csv").unlink()
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("3 videos: 1 tracked, 1 skipped") and "12 frames" in last, last
    assert os.path.getmtime(out / "a.mp4") == mtime


def test_a_collection_on_ray(tmp_path):
    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("a", "b"):
        write_clip(videos / f"{name}.avi", n=10)
    r = subprocess.run([sys.executable, "-m", "fkd.cli", "--videos", str(videos), "--out-dir", str(tmp_path / "o"),
                        "--ray", "local"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1].startswith("2 videos: 2 tracked, 0 skipped (outputs complete), 0 failed; 20 frames")
    assert len((tmp_path / "o" / "b.jsonl").read_text().splitlines()) == 10


def test_collection_refusals(tmp_path):
    videos = tmp_path / "in"
    videos.mkdir()
    write_clip(videos / "a.mp4", n=3)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "fkd.cli", *args], cwd=tmp_path, capture_output=True, text=True)

    for args, words in ((["--videos", str(videos)], "--out-dir"),
                        (["--videos", str(videos), "--out-dir", str(videos), "--outputs", "video"], "input videos"),
                        (["--videos", str(videos), "--out-dir", "o", "--outputs", "gif"], "--outputs"),
                        (["--videos", str(tmp_path / "none*.mp4"), "--out-dir", "o"], "no videos"),
                        (["--video", str(videos / "a.mp4"), "--out-dir", "o"], "--videos")):
        r = run(*args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert os.path.getsize(videos / "a.mp4") > 0
