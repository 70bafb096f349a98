"""Per-stage ms per frame and end-to-end frames per second of fkd-track, one face.

    python benchmarks/bench_pipeline.py [--threads 1] [--frames 150]

Frames are the demo clip (a real photo moving) at 640x480 and 1280x720, read
back from an mp4 so that decoding is measured too. Runs pinned to one core.
"""

import argparse
import os
import tempfile
import time


from fkd.demo import write_clip
from fkd.draw import draw_faces
from fkd.facetracker import FaceTracker, TrackerOptions, default_models_dir
from fkd.sources import open_video


def run(path, detect_every, threads, models):
    opts = TrackerOptions(models_dir=models, threads=threads, detect_every=detect_every)
    stages = {"read": 0.0, "gray": 0.0, "draw": 0.0}
    n = 0
    with FaceTracker(opts) as tracker:
        cap = open_video(path)
        t_start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            ok, frame = cap.read()
            t1 = time.perf_counter()
            if not ok:
                break
            faces = tracker.process(frame)
            t2 = time.perf_counter()
            draw_faces(frame, faces)
            t3 = time.perf_counter()
            stages["read"] += t1 - t0
            stages["draw"] += t3 - t2
            n += 1
        total = time.perf_counter() - t_start
        cap.release()
        stages.update(tracker.stage_s)
        crops = tracker.crops / n
    other = total - sum(stages.values())
    return {k: 1000 * v / n for k, v in stages.items()}, 1000 * other / n, n / total, crops


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--models", default=default_models_dir())
    ap.add_argument("--cores", default="0", help="CPU cores to pin to, comma-separated ('' = no pinning)")
    a = ap.parse_args()
    if a.cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in a.cores.split(",")})
    print(f"fkd-track pipeline, {a.threads} LiteRT thread(s), pinned to cores {a.cores or 'all'}, "
          f"{a.frames} frames, one face")
    print(f"{'size':>10} {'mode':>22} {'read':>6} {'detect':>7} {'crop':>6} {'infer':>6} {'after':>6} "
          f"{'draw':>6} {'other':>6} {'fps':>7} {'crops':>6}")
    with tempfile.TemporaryDirectory() as d:
        for size in ((640, 480), (1280, 720)):
            path = os.path.join(d, f"{size[0]}.mp4")
            write_clip(path, n=a.frames, size=size)
            every_n = TrackerOptions().detect_every
            for label, every in ((f"tracking (detect/{every_n})", every_n), ("detect every frame", 1)):
                st, other, fps, crops = run(path, every, a.threads, a.models)
                print(f"{size[0]}x{size[1]:<5} {label:>22} {st['read']:6.2f} {st['detect']:7.2f} "
                      f"{st['crop']:6.2f} {st['infer']:6.2f} {st.get('after', 0.0):6.2f} {st['draw']:6.2f} "
                      f"{other:6.2f} {fps:7.1f} {crops:6.3f}")
    print("(ms per frame; 'after': the shape correction and descent step after the models; 'other' is colour "
          "conversion, tracking bookkeeping and smoothing; 'crops': faces run through the models per frame)")


if __name__ == "__main__":
    main()
