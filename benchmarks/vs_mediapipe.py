"""fkd against MediaPipe FaceLandmarker, in one process, on the same frames, one core each.

    python benchmarks/vs_mediapipe.py            # writes BENCHMARKS.md

Speed: the demo clip's frames (a real photo moving, one face) at 640x480 and
1280x720, decoded beforehand, both systems in video mode (fkd tracking on;
MediaPipe's VIDEO mode tracks too), pinned to one core, LiteRT on one thread.
Accuracy: Kaggle-scale RMSE end to end (each system's own detector, full
frames) on the ../shared frames of the persons fkd's models held out, each
photo alone (image mode) and as a moving clip that both systems track
(video mode; train.evaluate.moving_clip, every frame scored). MediaPipe's 15
points are its best mesh vertex per keypoint, and apart from those its whole mesh
mapped to them (MeshMap), both fitted on the training persons' frames only.
"""

import argparse
import datetime
import os
import platform
import sys
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from common import BLAZEFACE, SHARED, USUAL_VERTICES, cpu_name, pin  # noqa: E402
import real_use  # noqa: E402  (benchmarks/real_use.py, beside this script)
import stability  # noqa: E402
import detectors  # noqa: E402
from fkd.demo import frames  # noqa: E402
from fkd.facetracker import FaceTracker, TrackerOptions, default_models_dir  # noqa: E402
from fkd.keypoints import NAMES  # noqa: E402
from fkd.train.evaluate import (KAGGLE_IOD, MOTION_DEGREES, MOTION_SCALE, MOTION_SHIFT, eye_offset,  # noqa: E402
                            confidence_of, face_errors, frames_of, kaggle_errors, moving_clip, on_common, selected_persons,
                            summarize_found)



class MediaPipeMesh:
    def __init__(self, task_path, mode):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self.mp = mp
        running = vision.RunningMode.VIDEO if mode == "video" else vision.RunningMode.IMAGE
        opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=task_path),
                                            running_mode=running, num_faces=1)
        self.task = vision.FaceLandmarker.create_from_options(opts)
        self.mode = mode

    def __call__(self, bgr, t_ms=None):
        """(478, 2) pixels of the first face, or None; 0-based pixel centres, as fkd's and the labels.

        MediaPipe's normalized x * width runs over pixel edges (its drawing_utils floors it to the
        pixel index), so a pixel's centre is at +0.5 there.
        """
        img = self.mp.Image(image_format=self.mp.ImageFormat.SRGB, data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        r = self.task.detect_for_video(img, t_ms) if self.mode == "video" else self.task.detect(img)
        if not r.face_landmarks:
            return None
        h, w = bgr.shape[:2]
        return np.array([[p.x * w - 0.5, p.y * h - 0.5] for p in r.face_landmarks[0]])

    def close(self):
        self.task.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def mediapipe_meshes(task_path, items):
    out = []
    with MediaPipeMesh(task_path, "image") as mesh:
        for name, _, frame, truth in items:
            out.append(mesh(frame))
    return out


def mediapipe_moving(task_path, items, n, seed=0):
    """Meshes, true points and labels of every frame of the moving clips that train.evaluate scores fkd on."""
    rng = np.random.default_rng(seed)   # evaluate()'s: the same clips, in the same order
    meshes, truths, labels = [], [], []
    for name, _, photo, truth in items:
        with MediaPipeMesh(task_path, "video") as mesh:   # a fresh tracker per clip, as fkd's reset()
            for i, (frame, true) in enumerate(moving_clip(photo, truth, n, rng)):
                meshes.append(mesh(frame, int(i * 1000 / 30)))
                truths.append(true)
                labels.append(f"{name}#{i}")
    return meshes, truths, labels


def fit_vertices(meshes, truths):
    """Per keypoint, the mesh vertex with the lowest mean eye-scaled error."""
    errs = np.zeros((len(NAMES), 478))
    n = 0
    for m, t in zip(meshes, truths):
        if m is None:
            continue
        s = KAGGLE_IOD / np.linalg.norm(t[0] - t[1])
        errs += (np.linalg.norm(m[None, :, :] - t[:, None, :], axis=2) * s) ** 2
        n += 1
    return [int(v) for v in errs.argmin(axis=1)]


def mesh_errors(meshes, truths, labels, to_points):
    """As train.evaluate.face_errors: {label: scaled errors} of the faces found, the labels of those missed;
    `to_points` takes a mesh to its 15 points."""
    found, missed = {}, []
    for m, t, label in zip(meshes, truths, labels):
        p = None if m is None else to_points(m)
        if p is None or eye_offset(p, t) > 0.5:
            missed.append(label)
        else:
            found[label] = kaggle_errors(p[None], t[None])[0]
    return found, missed


class MeshMap:
    """MediaPipe's 15 points from its whole mesh: its best vertices moved by a ridge regression on all
    478, in the mesh's own frame (origin at its centroid, x along the iris line, one unit per iris
    distance), fitted on the training persons as fkd's shape correction is. The comparison the best
    vertices alone leave open: how near the labels MediaPipe's mesh can be brought with the same data."""

    RIDGES = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
    FOLDS = 5

    def __init__(self, vertices, mean, weights, offset, ridge):
        self.vertices, self.mean, self.weights, self.offset, self.ridge = vertices, mean, weights, offset, ridge

    @staticmethod
    def frame(mesh):
        eyes = mesh[473] - mesh[468]
        scale = np.hypot(*eyes)
        x = eyes / scale
        return mesh.mean(axis=0), np.array([x, [-x[1], x[0]]]), scale

    @staticmethod
    def to_frame(points, frame):
        origin, axes, scale = frame
        return (points - origin) @ axes.T / scale

    def __call__(self, mesh):
        f = self.frame(mesh)
        step = (self.to_frame(mesh, f).ravel() - self.mean) @ self.weights + self.offset
        origin, axes, scale = f
        return (self.to_frame(mesh[self.vertices], f) + step.reshape(-1, 2)) * scale @ axes + origin

    @classmethod
    def fit(cls, meshes, truths, persons, vertices):
        """Fitted on the meshes whose best vertices found the face, the ridge chosen on held-out persons."""
        keep = [i for i, (m, t) in enumerate(zip(meshes, truths)) if m is not None and
                eye_offset(m[vertices], t) <= 0.5]
        frames = [cls.frame(meshes[i]) for i in keep]
        x = np.array([cls.to_frame(meshes[i], f).ravel() for i, f in zip(keep, frames)])
        y = np.array([(cls.to_frame(truths[i], f) - cls.to_frame(meshes[i][vertices], f)).ravel()
                      for i, f in zip(keep, frames)])
        people = sorted({persons[i] for i in keep})
        fold = np.array([people.index(persons[i]) % cls.FOLDS for i in keep])

        def solve(rows, ridge):
            mean, offset = x[rows].mean(axis=0), y[rows].mean(axis=0)
            xc = x[rows] - mean
            return mean, np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ (y[rows] - offset)), offset

        def held_out_error(ridge):
            err = 0.0
            for k in range(cls.FOLDS):
                mean, w, offset = solve(fold != k, ridge)
                held = fold == k
                scale = np.array([frames[i][2] / np.linalg.norm(truths[keep[i]][0] - truths[keep[i]][1])
                                  for i in np.flatnonzero(held)])   # errors in Kaggle scale
                err += (((x[held] - mean) @ w + offset - y[held]) ** 2 * (scale ** 2)[:, None]).sum()
            return err

        ridge = min(cls.RIDGES, key=held_out_error)
        return cls(list(vertices), *solve(np.ones(len(keep), bool), ridge), ridge)


def heaviest(ours, theirs, n=5):
    """The photos whose faces (a moving clip's frames) hold most of fkd's squared error among the faces
    both systems found: (photo, faces, share, fkd's RMSE, MediaPipe's RMSE) each, and both systems' RMSE on
    the faces both found without the first photo. A pooled RMSE can turn on a few faces; this shows which."""
    common = sorted(set(ours) & set(theirs))
    photos = {}
    for label in common:
        photos.setdefault(label.split("#")[0], []).append(label)

    def rmse(found, labels):
        return summarize_found({k: found[k] for k in labels}, [])["kaggle_rmse"]

    def squared(labels):
        return float(np.nansum(np.array([ours[k] for k in labels]) ** 2))

    total = squared(common)
    order = sorted(photos, key=lambda p: -squared(photos[p]))[:n]
    rows = [(p, len(photos[p]), squared(photos[p]) / total, rmse(ours, photos[p]), rmse(theirs, photos[p]))
            for p in order]
    rest = [k for k in common if k.split("#")[0] != order[0]]
    return rows, rmse(ours, rest), rmse(theirs, rest)


def timed(fn, clip):
    ms = []
    for i, f in enumerate(clip):
        t0 = time.perf_counter()
        fn(f, i)
        ms.append(1000 * (time.perf_counter() - t0))
    ms = np.array(ms[10:])   # the first frames warm caches and start tracking
    return float(np.median(ms)), float(np.percentile(ms, 95)), float(1000 * len(ms) / ms.sum())


def machine():
    cpu = cpu_name()
    import mediapipe
    import ai_edge_litert
    return (f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
            f"OpenCV {cv2.__version__}, LiteRT {getattr(ai_edge_litert, '__version__', '?')}, "
            f"mediapipe {mediapipe.__version__}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=default_models_dir())
    ap.add_argument("--data", default=os.path.join(SHARED, "data", "youtube-faces-68"))
    ap.add_argument("--task", default=os.path.join(SHARED, "models", "mediapipe", "face_landmarker.task"))
    ap.add_argument("--frames", type=int, default=200, help="Frames per size for the speed runs.")
    ap.add_argument("--fit-frames", type=int, default=600, help="Training-person frames for the vertex fit.")
    ap.add_argument("--repeats", type=int, default=3, help="Runs per system and size; medians reported.")
    ap.add_argument("--clip-frames", type=int, default=30, help="Frames of each moving clip (one cycle).")
    ap.add_argument("--core", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    a = ap.parse_args()
    for p in (a.data, a.task):
        if not os.path.exists(p):
            sys.exit(f"vs_mediapipe: {p} is missing (the shared data and MediaPipe model)")
    pin(a.core)

    # ---- speed
    speed = []
    for size in ((640, 480), (1280, 720)):
        clip = [f for f, _ in frames(a.frames, size)]
        runs = {"fkd": [], "mp": []}
        for _ in range(a.repeats):   # interleaved, so a slow spell of the machine hits both
            with FaceTracker(TrackerOptions(models_dir=a.models, threads=1)) as fkd:
                runs["fkd"].append(timed(lambda f, i: fkd.process(f), clip))
            with MediaPipeMesh(a.task, "video") as mesh:
                runs["mp"].append(timed(lambda f, i: mesh(f, int(i * 1000 / 30)), clip))
        (f_med, f_p95, f_fps), (m_med, m_p95, m_fps) = (np.median(runs[k], axis=0) for k in ("fkd", "mp"))
        # each run's ratio against the MediaPipe run next to it: how far the machine's swings move it
        per_run = [f[2] / m[2] for f, m in zip(runs["fkd"], runs["mp"])]
        speed.append((size, (f_med, f_p95, f_fps), (m_med, m_p95, m_fps), per_run))
        print(f"{size}: fkd {f_med:.2f} ms median, {f_fps:.1f} fps; MediaPipe {m_med:.2f} ms, {m_fps:.1f} fps",
              flush=True)

    # ---- speed where users are: faces coming and going, decode included (benchmarks/real_use.py)
    real = real_use.summary(real_use.measure(a.models, a.task, a.data, a.repeats, a.core))
    real_table = real_use.markdown(real, real_use.model_costs(a.models, a.task))
    print(real_table, flush=True)

    # ---- accuracy on held-out persons; MediaPipe's vertices fitted on training persons
    val = selected_persons(a.models, "val")
    items = list(frames_of(a.data))
    val_items = [it for it in items if it[1] in val]
    train_items = [it for it in items if it[1] not in val]
    step = max(1, len(train_items) // a.fit_frames)
    fit_items = train_items[::step]
    train_meshes = mediapipe_meshes(a.task, train_items)
    vertices = fit_vertices(train_meshes[::step], [it[3] for it in fit_items])
    mesh_map = MeshMap.fit(train_meshes, [it[3] for it in train_items], [it[1] for it in train_items], vertices)
    val_meshes = mediapipe_meshes(a.task, val_items)
    truths, labels = [it[3] for it in val_items], [it[0] for it in val_items]
    moving_meshes, moving_truths, moving_labels = mediapipe_moving(a.task, val_items, a.clip_frames)
    found = {"mp_best": mesh_errors(val_meshes, truths, labels, lambda m: m[vertices]),
             "mp_usual": mesh_errors(val_meshes, truths, labels, lambda m: m[USUAL_VERTICES]),
             "mp_mapped": mesh_errors(val_meshes, truths, labels, mesh_map),
             "ours": face_errors(val_items, models_dir=a.models, mode="image"),
             "ours_one_crop": face_errors(val_items, models_dir=a.models, mode="image", refine=0),
             "ours_tracked": face_errors(val_items, repeat=10, models_dir=a.models, mode="video"),
             "ours_moving": face_errors(val_items, repeat=a.clip_frames, motion=True, models_dir=a.models,
                                        mode="video"),
             "mp_moving": mesh_errors(moving_meshes, moving_truths, moving_labels, lambda m: m[vertices]),
             "mp_moving_mapped": mesh_errors(moving_meshes, moving_truths, moving_labels, mesh_map)}
    # ---- confidence, steadiness and pose (benchmarks/stability.py)
    confidence = [(what, *confidence_of(val_items, models_dir=a.models, **kw)) for what, kw in (
        ("image mode", {"mode": "image"}), ("moving clips", {"mode": "video", "repeat": a.clip_frames, "motion": True}))]
    dropped = [(m, summarize_found(*face_errors(val_items, models_dir=a.models, mode="image", min_confidence=m)))
               for m in (0.5, 0.7)]
    n_faceless, false_found = stability.false_faces(a.models, a.data)
    detector_table = detectors.markdown(*detectors.measure(
        a.models, a.data, BLAZEFACE))
    print(detector_table, flush=True)
    steadiness = stability.markdown(*stability.measure(a.models, a.task, a.data, vertices=vertices))
    print(steadiness, flush=True)
    (mp_best, mp_usual, mp_mapped, ours, ours_one_crop, ours_tracked, ours_moving, mp_moving,
     mp_moving_mapped) = (summarize_found(*found[k]) for k in (
        "mp_best", "mp_usual", "mp_mapped", "ours", "ours_one_crop", "ours_tracked", "ours_moving", "mp_moving",
        "mp_moving_mapped"))
    # each system on the faces all found: alone, each is spared the hard faces it misses
    common = [(what, *on_common(found[k][0], found[mp][0], found[mp + "_mapped" if "moving" in mp else "mp_mapped"][0]))
              for what, k, mp in (
                  ("image mode", "ours", "mp_best"), ("image mode, one crop", "ours_one_crop", "mp_best"),
                  ("tracked, still clips of 10 frames", "ours_tracked", "mp_best"),
                  ("tracked, moving clips (MediaPipe in VIDEO mode)", "ours_moving", "mp_moving"))]
    print(f"accuracy on {len(val_items)} held-out frames: fkd {ours['kaggle_rmse']:.3f} "
          f"(one crop {ours_one_crop['kaggle_rmse']:.3f}, tracked {ours_tracked['kaggle_rmse']:.3f}), "
          f"MediaPipe best vertex {mp_best['kaggle_rmse']:.3f}, usual {mp_usual['kaggle_rmse']:.3f}, "
          f"whole mesh mapped {mp_mapped['kaggle_rmse']:.3f} (ridge {mesh_map.ridge}); moving clips, tracked: "
          f"fkd {ours_moving['kaggle_rmse']:.3f}, MediaPipe {mp_moving['kaggle_rmse']:.3f}, "
          f"mapped {mp_moving_mapped['kaggle_rmse']:.3f}")
    for what, f, m, mm in common:
        print(f"  on the {f['faces']} faces all found, {what}: fkd {f['kaggle_rmse']:.3f}, MediaPipe "
              f"{m['kaggle_rmse']:.3f}, mapped {mm['kaggle_rmse']:.3f}")

    rows = "\n".join(
        f"| {w}x{h} | {f[0]:.2f} | {f[1]:.2f} | {f[2]:.1f} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.1f} | {f[2] / m[2]:.2f}x "
        f"| {', '.join(f'{r:.2f}x' for r in per_run)} |"
        for (w, h), f, m, per_run in speed)
    common_rows = "\n".join(f"| {what} | {f['faces']} | {f['kaggle_rmse']:.3f} | {m['kaggle_rmse']:.3f} "
                            f"| {mm['kaggle_rmse']:.3f} |" for what, f, m, mm in common)
    weights = []
    for what, k, mp in (("photos, image mode", "ours", "mp_best"),
                        ("moving clips, video mode", "ours_moving", "mp_moving")):
        heavy, rest_ours, rest_mp = heaviest(found[k][0], found[mp][0])
        weights.append(f"""{what}:

| photo | faces | share of fkd's squared error | fkd | MediaPipe, best vertices |
| --- | --- | --- | --- | --- |
""" + "\n".join(f"| {p} | {n} | {100 * sh:.1f} % | {fo:.2f} | {fm:.2f} |" for p, n, sh, fo, fm in heavy) + f"""

Without {heavy[0][0]}: fkd {rest_ours:.3f}, MediaPipe {rest_mp:.3f}.
""")
    per_kp = "\n".join(f"| {n} | {ours['per_keypoint_kaggle_rmse'][n]:.2f} | {mp_best['per_keypoint_kaggle_rmse'][n]:.2f} "
                       f"| {v} |" for n, v in zip(NAMES, vertices))
    every = TrackerOptions().infer_every
    models_when = ("the models on every frame" if every == 1 else
                   f"the models on every {every} frames, optical flow carrying the points between")
    text = f"""# Benchmarks: fkd against MediaPipe FaceLandmarker

Written by `python benchmarks/vs_mediapipe.py` on {datetime.date.today().isoformat()}.
Machine: {machine()}. Both systems in one process, pinned to core {a.core}; fkd with one LiteRT thread.

## Speed on real use: faces coming and going, decode included

Two clips read from mp4 as a user's video is (`benchmarks/real_use.py`): a 30 s video made from the
`../shared` frames, ten 3 s shots at 640x360 holding 0 to 3 faces at eye distances of 22 to 60 px that
enter and leave under a slow camera pan and zoom; and the demo clip at 640x480 repeated to 900 frames.
fkd in video mode (detector every {TrackerOptions().detect_every} frames while a face is tracked; while
none is, every {TrackerOptions().idle_detect_every} frames, and for {TrackerOptions().detect_every} frames after a face was lost near where it was on the frames between; {models_when}), MediaPipe FaceLandmarker in VIDEO mode with up to 3
faces; {a.repeats} runs each, interleaved, the median run shown. "Pick up" counts the frames from a face's
entry to the first frame where that system has points on it (eyes within half an eye distance).

{real_table}

## Speed, one face, video mode, frames decoded beforehand (fkd: tracking on, detector every {TrackerOptions().detect_every} frames)

Frames: the demo clip (matplotlib's Grace Hopper photo moved, scaled and rotated), {a.frames} per size,
decoded beforehand; the first 10 frames of each run are not counted. {a.repeats} runs per system and
size, interleaved; the figures are the medians of the runs, and the last column each run's ratio
against the MediaPipe run beside it (the machine's swings move them).

| frame | fkd median ms | fkd p95 ms | fkd fps | MediaPipe median ms | MediaPipe p95 ms | MediaPipe fps | fkd / MediaPipe | each run |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

## Accuracy, end to end, persons never seen in training

{len(val_items)} frames of the {len(val)} persons fkd's models held out (`../shared/data/youtube-faces-68`),
full frames in, each system's own face detector. Kaggle-scale RMSE (errors scaled by 36 / true eye distance).

| system | Kaggle-scale RMSE | faces missed |
| --- | --- | --- |
| fkd ({os.path.relpath(a.models, ROOT)}), image mode: three crops per face, the last two turned upright (`refine=2`) | {ours['kaggle_rmse']:.3f} | {100 * ours['missed_share']:.1f} % |
| fkd, image mode, one crop per face (`refine=0`) | {ours_one_crop['kaggle_rmse']:.3f} | {100 * ours_one_crop['missed_share']:.1f} % |
| fkd, video mode as timed above: each photo tracked as a still clip of 10 frames, the last scored | {ours_tracked['kaggle_rmse']:.3f} | {100 * ours_tracked['missed_share']:.1f} % |
| MediaPipe FaceLandmarker, best vertex per keypoint (fitted on {len(fit_items)} training-person frames) | {mp_best['kaggle_rmse']:.3f} | {100 * mp_best['missed_share']:.1f} % |
| MediaPipe FaceLandmarker, the usual vertices | {mp_usual['kaggle_rmse']:.3f} | {100 * mp_usual['missed_share']:.1f} % |
| MediaPipe FaceLandmarker, whole mesh mapped to the 15 points (ridge {mesh_map.ridge:g}, fitted on the {len(train_items)} training-person frames) | {mp_mapped['kaggle_rmse']:.3f} | {100 * mp_mapped['missed_share']:.1f} % |

MediaPipe's best vertices (as `../shared/README.md` scores it) take one mesh vertex per keypoint. Mapped, its whole mesh
is moved to the labels by a ridge regression fitted on the training persons, as fkd's shape correction
is on fkd's answers (`MeshMap` in this script: the best vertices moved by a linear function of all 478
in the mesh's own frame, the ridge chosen on held-out training persons).

Tracked, moving: each photo as a clip of {a.clip_frames} frames that turns (+-{MOTION_DEGREES:.0f} degrees), scales
(+-{100 * MOTION_SCALE:.0f} %) and moves (+-{100 * MOTION_SHIFT[0]:.0f} % of the width, +-{100 * MOTION_SHIFT[1]:.0f} % of the height), one cycle a second at
30 fps (`train.evaluate.moving_clip`); both systems in video mode, a fresh tracker per clip, every frame
scored ({len(val_items) * a.clip_frames} frames).

| system | Kaggle-scale RMSE | frames missed |
| --- | --- | --- |
| fkd, video mode (`fkd-eval --mode video --motion --repeat {a.clip_frames}`) | {ours_moving['kaggle_rmse']:.3f} | {100 * ours_moving['missed_share']:.1f} % |
| MediaPipe FaceLandmarker, VIDEO mode, best vertex per keypoint | {mp_moving['kaggle_rmse']:.3f} | {100 * mp_moving['missed_share']:.1f} % |
| MediaPipe FaceLandmarker, VIDEO mode, whole mesh mapped | {mp_moving_mapped['kaggle_rmse']:.3f} | {100 * mp_moving_mapped['missed_share']:.1f} % |

Each figure above is taken over the faces that system found, so a system that misses a hard face is
spared its error there, and one that finds it pays. On the faces all three found (fkd in the mode named,
MediaPipe in IMAGE mode on the photos and VIDEO mode on the moving clips):

| fkd | faces (frames) all found | fkd | MediaPipe, best vertices | MediaPipe, whole mesh mapped |
| --- | --- | --- | --- | --- |
{common_rows}

Where fkd's error comes from, on the faces both fkd and MediaPipe (best vertices) found: the photos that
hold most of fkd's squared error, and both systems on the rest. Kaggle scale divides by the true eye
distance, so a face turned far aside, its eyes close together, weighs most.

{chr(10).join(weights)}
## Confidence: does it rank the error?

Each face's uncertainty is the disagreement of the views fkd answers it from (`fkd/confidence.py`),
no extra model time. Held-out persons; rank correlation of each point's uncertainty with its error
(Kaggle-scale px), of each face's confidence with its RMS error (higher confidence, lower error), and
the RMSE of the least confident tenth of faces against the rest:

| fkd | faces | rank correlation, points | rank correlation, faces | least confident 10 % | the rest |
| --- | --- | --- | --- | --- | --- |
""" + "\n".join(f"| {what} | {c['faces']} | {c['point_rank_correlation']:.3f} | {c['face_rank_correlation']:.3f} | "
              f"{c['least_confident_rmse']:.3f} | {c['rest_rmse']:.3f} |" for what, _, c in confidence) + """

`min_confidence` in image mode (`fkd-eval --min-confidence M`): """ + "; ".join(
        f"{m}: RMSE {d['kaggle_rmse']:.3f}, {100 * d['missed_share']:.1f} % of faces missed or dropped" for m, d in dropped) + f"""
(against {ours['kaggle_rmse']:.3f} and {100 * ours['missed_share']:.1f} % without). False faces on {n_faceless}
held-out photos whose face was painted over (`stability.faceless`): """ + ", ".join(
        f"{k} at min_confidence {m}" for m, k in false_found.items()) + f""".

## Face detectors (`benchmarks/detectors.py`)

Recall and false detections per photo on four sets made from the `../shared` frames: the held-out
persons' frames (every 2nd), 9 group photos of 7 held-out faces 45 to 65 px across, every 5th frame of
the real-use video above, and held-out photos with the face painted over; milliseconds on the demo
clip's 640x480 frames, one core. A face is found when a box holds its eye centres and nose tip.

{detector_table}

## Steadiness and head pose (`benchmarks/stability.py`)

{steadiness}

Per keypoint (Kaggle-scale RMSE, image mode, each on the faces it found):

| keypoint | fkd | MediaPipe (best vertex) | vertex |
| --- | --- | --- | --- |
{per_kp}
"""
    with open(a.out, "w") as f:
        f.write(text)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
