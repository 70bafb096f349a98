"""Members an hour, serial against Ray, and frames a second over a collection of videos.

    python benchmarks/bench_ray.py [--members 4] [--epochs 4] [--videos 8]

Training: the same small run (seed architecture, 240 generated demo crops, 64-unit dense head) once
with `fkd-train` alone and once with `--ray local --cpus-per-member 1`, i.e. one one-CPU member per
core of this machine; each from an empty work folder, TensorFlow's start included; the same seeds
should give the same members' validation errors both ways. Tracking: the demo
clip copied `--videos` times, tracked with `fkd-track --videos` serially and with `--ray local`.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from common import cpu_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--videos", type=int, default=8)
    a = ap.parse_args()
    from conftest import demo_kaggle_csv

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores")
    with tempfile.TemporaryDirectory() as d:
        data = demo_kaggle_csv(os.path.join(d, "d.csv"), n=240)
        base = [sys.executable, "-m", "fkd.train.cli", "--subset", "4pts", "--data", data, "--members", str(a.members),
                "--epochs", str(a.epochs), "--dense", "64", "--quiet"]
        for name, extra in (("serial", []), ("Ray, two one-CPU workers", ["--ray", "local", "--cpus-per-member", "1"])):
            w = os.path.join(d, name.split(",")[0])
            s, r = timed(base + ["--workdir", w, "--out", os.path.join(w, "out")] + extra, env)
            lines = r.stdout.splitlines()
            report = json.loads("\n".join(lines[lines.index("{"):lines.index("}") + 1]))
            errors = ", ".join(f"{v:.4f}" for v in report["members_val_rmse_px"].values())
            print(f"fkd-train {name}: {a.members} members of {a.epochs} epochs in {s:.0f} s, "
                  f"{a.members * 3600 / s:.0f} members an hour; members' validation RMSE {errors} px")
        clips = os.path.join(d, "clips")
        os.makedirs(clips)
        for i in range(a.videos):
            shutil.copy(os.path.join(ROOT, "examples", "demo.mp4"), os.path.join(clips, f"c{i}.mp4"))
        for name, extra in (("serial", []), ("Ray, local cluster", ["--ray", "local"])):
            out = os.path.join(d, "tracked-" + name.split(",")[0])
            s, r = timed([sys.executable, "-m", "fkd.cli", "--videos", clips, "--out-dir", out] + extra, env)
            last = r.stderr.strip().splitlines()[-1]
            frames = int(re.search(r"; (\d+) frames", last).group(1))
            print(f"fkd-track --videos {name}: {a.videos} videos, {frames} frames in {s:.1f} s, "
                  f"{frames / s:.0f} frames/s (the command's own line: {last})")


if __name__ == "__main__":
    main()
