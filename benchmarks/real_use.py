"""Speed where users are: a video with faces coming and going, and the demo clip, decode included.

    python benchmarks/real_use.py            # prints the tables; vs_mediapipe.py writes them to BENCHMARKS.md

The real-use clip is made here from the ../shared frames (nothing is copied into the repository):
shots of 3 s at 640x360, each holding 0 to 3 faces of random persons pasted at eye distances of 22 to
60 px onto a blurred background, entering and leaving within the shot, under a slow camera pan and
zoom. fkd (video mode) and MediaPipe FaceLandmarker (VIDEO mode, up to 3 faces) read the same mp4 in
one process, pinned to one core, LiteRT on one thread; per-stage milliseconds for fkd, and how many
frames each takes from a face's entry to its first points there. Multiply-adds per invoke are counted
from each TFLite graph (fkd.graph_cost), so the cost reads the same on any machine.
"""

import os
import tempfile
import time
import zipfile

import cv2
import numpy as np

from common import USUAL_VERTICES, arguments, cpu_name, pin, require
from fkd import FaceTracker, TrackerOptions
from fkd.demo import write_clip
from fkd.graph_cost import multiply_adds
from fkd.manifest import load_manifest
from fkd.train.evaluate import eye_offset, frames_of

SIZE, FPS, SHOT = (640, 360), 30, 90
FACES_PER_SHOT = (0, 1, 2, 1, 3, 0, 1, 2, 1, 1)


def make_clip(data_dir, path, seed=0):
    """Writes the real-use clip; returns, per frame, {face id: (15, 2) true points} of the faces shown."""
    rng = np.random.default_rng(seed)
    items = list(frames_of(data_dir))
    w, h = SIZE
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    truth, next_id = [], 0
    for n_faces in FACES_PER_SHOT:
        bg_img = items[rng.integers(len(items))][2]
        bg = cv2.GaussianBlur(cv2.resize(bg_img, (w, h)), (0, 0), 25) * 0.7
        faces = []
        for _ in range(n_faces):
            _, _, img, pts = items[rng.integers(len(items))]
            iod = np.linalg.norm(pts[0] - pts[1])
            scale = rng.uniform(22, 60) / iod
            start = int(rng.integers(0, SHOT // 3)) if rng.random() < 0.6 else 0
            end = SHOT - (int(rng.integers(0, SHOT // 3)) if rng.random() < 0.4 else 0)
            at = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.25, 0.75) * h])
            faces.append((next_id, img, pts, scale, start, end, at, rng.normal(0, 0.3, 2)))
            next_id += 1
        pan = rng.normal(0, 0.8, 2)
        zoom = rng.uniform(-0.002, 0.002)
        for t in range(SHOT):
            frame = bg.copy()
            shown = {}
            z = 1 + zoom * t
            for fid, img, pts, scale, start, end, at, drift in faces:
                if not start <= t < end:
                    continue
                centre = pts.mean(axis=0)
                where = (at + drift * t + pan * t - np.array([w, h]) / 2) * z + np.array([w, h]) / 2
                m = np.array([[scale * z, 0, 0], [0, scale * z, 0]])
                m[:, 2] = where - centre * scale * z
                warped = cv2.warpAffine(img, m, (w, h)).astype(np.float64)
                iod = scale * z * np.linalg.norm(pts[0] - pts[1])
                mask = np.zeros((h, w), np.float32)
                cv2.ellipse(mask, (int(where[0]), int(where[1] + 0.2 * iod)), (int(1.5 * iod), int(2.0 * iod)),
                            0, 0, 360, 1.0, -1)
                mask = cv2.GaussianBlur(mask, (0, 0), 0.25 * iod + 1)[..., None]
                frame = frame * (1 - mask) + warped * mask
                shown[fid] = pts @ m[:, :2].T + m[:, 2]
            writer.write(np.clip(frame, 0, 255).astype(np.uint8))
            truth.append(shown)
    writer.release()
    return truth


def run(path, process, tracker=None):
    """Per-frame decode and processing seconds, each frame's faces' points, and fkd's stage seconds."""
    cap = cv2.VideoCapture(path)
    decode, work, answers = [], [], []
    i = 0
    while True:
        t0 = time.perf_counter()
        ok, frame = cap.read()
        t1 = time.perf_counter()
        if not ok:
            break
        answers.append(process(frame, int(i * 1000 / FPS)))
        work.append(time.perf_counter() - t1)
        decode.append(t1 - t0)
        i += 1
    cap.release()
    return np.array(decode), np.array(work), answers


def pickup(truth, answers):
    """Frames from each face's entry to the first frame with points on it, and the faces never found."""
    delays, never, seen = [], 0, {}
    for t, shown in enumerate(truth):
        for fid in shown:
            seen.setdefault(fid, t)
    for fid, start in seen.items():
        for t in range(start, len(truth)):
            if fid not in truth[t]:
                never += 1
                break
            if any(eye_offset(p, truth[t][fid]) < 0.5 for p in answers[t]):
                delays.append(t - start)
                break
        else:
            never += 1
    return delays, never


def fkd_runner(models, **options):
    tracker = FaceTracker(TrackerOptions(models_dir=models, threads=1, **options))
    return tracker, lambda frame, ms: [f.keypoints for f in tracker.process(frame, ms)]


def mediapipe_runner(task):
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=task),
                                        running_mode=vision.RunningMode.VIDEO, num_faces=3)
    landmarker = vision.FaceLandmarker.create_from_options(opts)

    def process(frame, ms):
        r = landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB,
                                                 data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)), ms)
        h, w = frame.shape[:2]
        # the 15 points' usual mesh vertices, enough to say a face was found
        return [np.array([[p.x * w - 0.5, p.y * h - 0.5] for p in face])[USUAL_VERTICES] for face in r.face_landmarks]
    return landmarker, process


def model_costs(models, task, infer_every=TrackerOptions.infer_every):
    """(name, multiply-adds per invoke, when it is invoked) of each system's graphs."""
    m = load_manifest(models)
    fkd_when = "each tracked face, each frame" if infer_every == 1 else (
        f"each tracked face, every {infer_every} frames (optical flow between)")
    rows = [(f"fkd {name} fused ensemble ({sub['ensemble']['members']} members, {sub['ensemble']['quantization']})",
             multiply_adds(os.path.join(models, sub["ensemble"]["file"])), fkd_when) for name, sub in m["subsets"].items()]
    with tempfile.TemporaryDirectory() as d:
        zipfile.ZipFile(task).extractall(d)
        rows.append(("MediaPipe face mesh (478 points, float)", multiply_adds(os.path.join(d, "face_landmarks_detector.tflite")),
                     "each tracked face, each frame"))
        rows.append(("MediaPipe BlazeFace detector", multiply_adds(os.path.join(d, "face_detector.tflite")), "each detection"))
    return rows


def measure(models, task, data, repeats=2, core=0, fkd_options=None):
    """Both clips, both systems, `repeats` interleaved runs: the figures BENCHMARKS.md shows."""
    pin(core)
    out = {}
    with tempfile.TemporaryDirectory() as d:
        real, demo = os.path.join(d, "real.mp4"), os.path.join(d, "demo.mp4")
        truth = make_clip(data, real)
        demo_truth = write_clip(demo, n=900)
        clips = {"real-use video, 640x360, 0 to 3 faces": (real, truth),
                 "demo clip repeated to 900 frames, 640x480, one face": (demo, [{0: p} for p in demo_truth])}
        for name, (path, tr) in clips.items():
            res = {"fkd": [], "mp": []}
            for _ in range(repeats):
                tracker, process = fkd_runner(models, **(fkd_options or {}))
                dec, work, answers = run(path, process)
                stages = {k: 1000 * v / len(work) for k, v in tracker.stage_s.items()}
                tracker.close()
                res["fkd"].append((dec, work, answers, stages))
                landmarker, process = mediapipe_runner(task)
                dec, work, answers = run(path, process)
                landmarker.close()
                res["mp"].append((dec, work, answers, {}))
            out[name] = (res, tr)
    return out


def summary(result):
    """Per clip and system: ms a frame with decode (median of runs), fps, stages, pick-up delays."""
    rows = []
    for name, (res, truth) in result.items():
        per = {}
        for system, runs in res.items():
            totals = [1000 * (dec + work).mean() for dec, work, _, _ in runs]
            i = int(np.argsort(totals)[len(totals) // 2])
            dec, work, answers, stages = runs[i]
            delays, never = pickup(truth, answers)
            per[system] = {"ms": totals[i], "decode_ms": 1000 * dec.mean(), "stages": stages,
                           "fps": 1000 / totals[i], "runs": totals, "delays": delays, "never": never,
                           "faces": len(delays) + never}
        rows.append((name, per))
    return rows


def markdown(rows, costs):
    lines = [f"CPU: {cpu_name()} (one core for each system, LiteRT on one thread); decode included.", "",
             "| clip | system | ms a frame | fps | decode ms | fkd stages, ms a frame | fkd / MediaPipe | frames to pick up a new face (median, max; never) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, per in rows:
        ratio = per["mp"]["ms"] / per["fkd"]["ms"]
        for system, label in (("fkd", "fkd, video mode"), ("mp", "MediaPipe FaceLandmarker, VIDEO mode")):
            p = per[system]
            st = ", ".join(f"{k} {v:.2f}" for k, v in sorted(p["stages"].items())) if p["stages"] else ""
            d = p["delays"]
            pick = (f"{np.median(d):.0f}, {max(d)}; {p['never']} of {p['faces']}" if d else f"-; {p['never']} of {p['faces']}")
            lines.append(f"| {name} | {label} | {p['ms']:.2f} | {p['fps']:.1f} | {p['decode_ms']:.2f} | {st} | "
                         f"{f'{ratio:.2f}x' if system == 'fkd' else ''} | {pick} |")
    lines += ["", "| graph | multiply-adds an invoke | invoked |", "| --- | --- | --- |"]
    for name, macs, when in costs:
        lines.append(f"| {name} | {macs / 1e6:.1f} M | {when} |")
    return "\n".join(lines)


def main():
    ap = arguments(__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--idle-detect-every", type=int, default=None, help="TrackerOptions.idle_detect_every.")
    ap.add_argument("--infer-every", type=int, default=None, help="TrackerOptions.infer_every.")
    a = ap.parse_args()
    require("real_use", a.data, a.task)
    opts = {k: v for k, v in (("idle_detect_every", a.idle_detect_every), ("infer_every", a.infer_every))
            if v is not None}
    rows = summary(measure(a.models, a.task, a.data, a.repeats, fkd_options=opts))
    print(markdown(rows, model_costs(a.models, a.task, opts.get("infer_every", TrackerOptions.infer_every))))


if __name__ == "__main__":
    main()
