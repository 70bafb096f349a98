"""The face detectors side by side: recall, false detections and milliseconds, where users meet them.

    python benchmarks/detectors.py        # prints the table; vs_mediapipe.py writes it to BENCHMARKS.md

Sets, all made at run time from the ../shared frames (nothing is copied into the repository):
(a) the held-out persons' frames; (b) group photos: 9 canvases of 640x400, each with 7 held-out faces
pasted at eye distances of 18 to 26 px (faces about 45 to 65 px across) on a blurred background;
(c) the real-use video of benchmarks/real_use.py, every 5th frame; (d) held-out photos with the face
painted over (benchmarks/stability.py's faceless), which hold no face. A true face is found when a box
holds both its eye centres and its nose tip; a box holding no true face is a false detection. Time: the
demo clip's frames at 640x480, one core. Then fkd's image mode end to end on the group photos.
"""

import os
import tempfile
import time

import cv2
import numpy as np

import real_use
import stability
from common import BLAZEFACE, arguments, pin, require
from fkd import FaceTracker, TrackerOptions
from fkd.demo import frames as demo_frames
from fkd.detectors import BlazeFaceFullRange, HaarDetector, MediaPipeDetector
from fkd.pose import head_pose
from fkd.train.evaluate import eye_offset, frames_of, selected_persons



def group_photos(items, n=9, faces=7, size=(640, 400), seed=0):
    """(BGR canvas, [(15, 2) true points of each face]) of `n` group photos."""
    rng = np.random.default_rng(seed)
    w, h = size
    out = []
    for _ in range(n):
        bg = cv2.GaussianBlur(cv2.resize(items[rng.integers(len(items))][2], size), (0, 0), 20).astype(np.float64)
        canvas, truths = bg * 0.8, []
        cols, rows = 4, 2
        cells = rng.permutation(cols * rows)[:faces]
        for cell in cells:
            _, _, img, pts = items[rng.integers(len(items))]
            iod = rng.uniform(18, 26)
            scale = iod / np.linalg.norm(pts[0] - pts[1])
            cx = (cell % cols + 0.5 + rng.uniform(-0.15, 0.15)) * w / cols
            cy = (cell // cols + 0.5 + rng.uniform(-0.1, 0.1)) * h / rows
            m = np.array([[scale, 0, 0], [0, scale, 0]])
            m[:, 2] = np.array([cx, cy]) - pts.mean(axis=0) * scale
            warped = cv2.warpAffine(img, m, size).astype(np.float64)
            mask = np.zeros((h, w), np.float32)
            cv2.ellipse(mask, (int(cx), int(cy + 0.2 * iod)), (int(1.5 * iod), int(2.0 * iod)), 0, 0, 360, 1.0, -1)
            mask = cv2.GaussianBlur(mask, (0, 0), 0.25 * iod + 1)[..., None]
            canvas = canvas * (1 - mask) + warped * mask
            truths.append(pts @ m[:, :2].T + m[:, 2])
        out.append((np.clip(canvas, 0, 255).astype(np.uint8), truths))
    return out


def holds(box, truth):
    x, y, bw, bh = box
    p = truth[[0, 1, 10]]
    return bool(np.all((p[:, 0] >= x) & (p[:, 0] <= x + bw) & (p[:, 1] >= y) & (p[:, 1] <= y + bh)))


def score(detector, sets):
    """{set: (faces found, faces, false boxes, photos)} of one detector."""
    out = {}
    for name, photos in sets.items():
        found = total = false = 0
        for frame, truths in photos:
            boxes, _ = detector(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), frame)
            found += sum(any(holds(b, t) for b in boxes) for t in truths)
            false += sum(not any(holds(b, t) for t in truths) for b in boxes)
            total += len(truths)
        out[name] = (found, total, false, len(photos))
    return out


def timing(detector, n=60):
    clip = [f for f, _ in demo_frames(n, (640, 480))]
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in clip]
    detector(grays[0], clip[0])
    t = time.perf_counter()
    for g, f in zip(grays, clip):
        detector(g, f)
    return 1000 * (time.perf_counter() - t) / n


def candidates(blazeface):
    out = [("Haar, video mode's settings (320 px, faces from 40 px)", lambda: HaarDetector()),
           ("Haar at up to 1280 px, faces from 24 px", lambda: HaarDetector(max_side=1280, upscale=False, min_size=24)),
           ("Haar, image mode's settings (the video settings, then faces from 24 px at up to 1280 px)",
            lambda: HaarDetector(**HaarDetector.MODES["image"])),
           ("Haar, image mode's settings, finer pyramid (scale 1.05)",
            lambda: HaarDetector(**HaarDetector.MODES["image"], scale_factor=1.05)),
           ("Haar, image mode's settings + profile cascade, both sides",
            lambda: HaarDetector(**HaarDetector.MODES["image"], profile=True))]
    if BlazeFaceFullRange.packaged() and os.path.isfile(BlazeFaceFullRange.packaged()):
        out.append(("MediaPipe BlazeFace full range, on LiteRT (--detector blazeface)", lambda: BlazeFaceFullRange()))
    if blazeface and os.path.isfile(blazeface):
        out.append(("MediaPipe BlazeFace short range (--detector mediapipe)", lambda: MediaPipeDetector(blazeface)))
    return out


def measure(models, data, blazeface, every=2):
    val = selected_persons(models, "val")
    items = [it for it in frames_of(data) if it[1] in val]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "real.mp4")
        truth = real_use.make_clip(data, path)
        cap, video = cv2.VideoCapture(path), []
        for i, shown in enumerate(truth):
            ok, frame = cap.read()
            if ok and i % 5 == 0:
                video.append((frame, list(shown.values())))
        cap.release()
    groups = group_photos(items)
    sets = {"held-out frames": [(p, [t]) for _, _, p, t in items[::every]],
            "group photos": groups,
            "real-use video": video,
            "photos without a face": [(stability.faceless(p, t), []) for _, _, p, t in items[::every]]}
    rows = []
    for name, make in candidates(blazeface):
        det = make()
        rows.append((name, score(det, sets), timing(det)))
        det.close()
    # end to end: fkd's default image mode on the group photos
    found = total = 0
    with FaceTracker(TrackerOptions(models_dir=models, mode="image")) as t:
        for frame, truths in groups:
            faces = t.process(frame)
            found += sum(any(eye_offset(f.keypoints, tr) < 0.5 for f in faces) for tr in truths)
            total += len(truths)
    # how far the training persons' faces are turned (their true points' pose): Face.turned's thresholds
    turns = np.array([[abs(p.yaw), abs(p.pitch)] for p in (head_pose(t, img.shape) for _, person, img, t in
                                                           frames_of(data) if person not in val) if p])
    return rows, (found, total), np.percentile(turns, 95, axis=0)


def markdown(rows, end_to_end, turns):
    sets = list(rows[0][1])
    lines = ["| detector | " + " | ".join(f"{s}: found, false per photo" for s in sets) + " | ms a 640x480 frame |",
             "| --- | " + " | ".join("---" for _ in sets) + " | --- |"]
    for name, res, ms in rows:
        cells = []
        for s in sets:
            found, total, false, n = res[s]
            cells.append((f"{found}/{total} ({100 * found / total:.0f} %), " if total else "") + f"{false / n:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ms:.1f} |")
    found, total = end_to_end
    lines += ["", f"fkd's default image mode (`fkd-track --images`) on the group photos: points on {found} of the "
              f"{total} faces.", "", f"The training persons' faces (the pose of their true points): 95th percentiles "
              f"of |yaw| {turns[0]:.1f} and |pitch| {turns[1]:.1f} degrees; `Face.turned` (`fkd/pose.py`) flags "
              "answers beyond about these."]
    return "\n".join(lines)


def main():
    ap = arguments(__doc__.splitlines()[0])
    ap.add_argument("--blazeface", default=BLAZEFACE)
    a = ap.parse_args()
    require("detectors", a.data)
    pin()
    print(markdown(*measure(a.models, a.data, a.blazeface)))


if __name__ == "__main__":
    main()
