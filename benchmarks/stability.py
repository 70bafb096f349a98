"""Steadiness, lag and head pose: fkd against MediaPipe FaceLandmarker, VIDEO mode, on the held-out persons.

    python benchmarks/stability.py [--every 4]    # prints the tables; vs_mediapipe.py writes them to BENCHMARKS.md

Jitter on still clips: each photo shown 30 times, as it is and with camera-like noise (Gaussian, 3 grey
levels, new each frame); the RMS distance of each point from its own mean over the frames after the
first, Kaggle-scale px, median over photos. Jitter on moving clips (train.evaluate.moving_clip): the RMS
frame-to-frame change of the error (answer minus truth), which is what the true motion does not explain.
Lag: the whole-frame shift that best aligns the answered points with the true ones on the moving clips.
Pose: fkd's yaw, pitch and roll (fkd.pose) against the angles of MediaPipe's facial transformation
matrix on the photos (image mode), and fkd's roll on the moving clips against the turn the clip applies.
"""


import cv2
import numpy as np

from common import USUAL_VERTICES, arguments, pin, require
from fkd import FaceTracker, TrackerOptions
from fkd.pose import angles
from fkd.train.evaluate import (KAGGLE_IOD, MOTION_DEGREES, MOTION_PERIOD, eye_offset, frames_of, moving_clip,
                                selected_persons)

FLIP = np.diag([1.0, -1.0, -1.0])   # MediaPipe's frames (y up, z towards the viewer) to fkd.pose's


class MediaPipeVideo:
    def __init__(self, task, mode="video", vertices=USUAL_VERTICES):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self.mp, self.mode, self.vertices, self.t = mp, mode, vertices, 0
        running = vision.RunningMode.VIDEO if mode == "video" else vision.RunningMode.IMAGE
        self.task = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=task), running_mode=running, num_faces=1,
            output_facial_transformation_matrixes=True))

    def __call__(self, bgr):
        """((15, 2) pixels, (yaw, pitch, roll)) of the first face, or (None, None)."""
        img = self.mp.Image(image_format=self.mp.ImageFormat.SRGB, data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        r = self.task.detect_for_video(img, self.t) if self.mode == "video" else self.task.detect(img)
        self.t += 33
        if not r.face_landmarks:
            return None, None
        h, w = bgr.shape[:2]
        pts = np.array([[p.x * w - 0.5, p.y * h - 0.5] for p in r.face_landmarks[0]])[self.vertices]
        rot = np.asarray(r.facial_transformation_matrixes[0])[:3, :3]
        return pts, angles(FLIP @ rot @ FLIP)

    def close(self):
        self.task.close()


def scale_of(truth):
    return KAGGLE_IOD / np.linalg.norm(truth[0] - truth[1])


def still_jitter(points, truth):
    """RMS distance from their own mean of the points of frames 1.., Kaggle-scale px; None if a frame missed."""
    if any(p is None for p in points[1:]):
        return None
    p = np.array(points[1:])
    return float(np.sqrt(((p - p.mean(axis=0)) ** 2).sum(axis=2).mean()) * scale_of(truth))


def moving_jitter_and_lag(points, truths, max_lag=3):
    """(RMS frame-to-frame change of the error, Kaggle-scale px; the shift in frames that best aligns the
    answers with the truth), or None where a frame missed."""
    if any(p is None for p in points):
        return None
    p, t = np.array(points), np.array(truths)
    s = scale_of(truths[0])
    err = (p - t) * s
    jitter = float(np.sqrt((np.diff(err, axis=0) ** 2).sum(axis=2).mean()))
    lags = {k: np.sqrt(((p[k:] - t[:len(t) - k]) ** 2).mean()) for k in range(0, max_lag + 1)}
    return jitter, min(lags, key=lags.get)


def fkd_points(tracker, frame, truth):
    faces = tracker.process(frame)
    near = [f for f in faces if eye_offset(f.keypoints, truth) < 0.5]
    return (near[0].keypoints, near[0].pose) if near else (None, None)


def measure(models, task, data, every=4, noise=3.0, n=30, seed=0, vertices=USUAL_VERTICES):
    val = selected_persons(models, "val")
    items = [it for it in frames_of(data) if it[1] in val][::every]
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("fkd_still", "mp_still", "fkd_noisy", "mp_noisy", "fkd_moving", "mp_moving")}
    poses, rolls = [], []
    with FaceTracker(TrackerOptions(models_dir=models, mode="image")) as image:
        mp_image = MediaPipeVideo(task, "image", vertices)
        for _, _, photo, truth in items:   # pose against MediaPipe's matrix
            _, ours = fkd_points(image, photo, truth)
            _, theirs = mp_image(photo)
            if ours is not None and theirs is not None:
                poses.append(((ours.yaw, ours.pitch, ours.roll), theirs))
        mp_image.close()
    with FaceTracker(TrackerOptions(models_dir=models)) as fkd:
        for _, _, photo, truth in items:
            for kind, noisy in (("still", False), ("noisy", True)):
                clip = [np.clip(photo + rng.normal(0, noise, photo.shape), 0, 255).astype(np.uint8) if noisy else photo
                        for _ in range(n)]
                fkd.reset()
                mp = MediaPipeVideo(task, "video", vertices)
                ours = [fkd_points(fkd, f, truth)[0] for f in clip]
                theirs = [mp(f)[0] for f in clip]
                mp.close()
                rows[f"fkd_{kind}"].append(still_jitter(ours, truth))
                rows[f"mp_{kind}"].append(still_jitter(theirs, truth))
            fkd.reset()
            mp = MediaPipeVideo(task, "video", vertices)
            frames = list(moving_clip(photo, truth, n, rng))
            ours, our_rolls, theirs = [], [], []
            for f, t in frames:
                p, pose = fkd_points(fkd, f, t)
                ours.append(p)
                our_rolls.append(None if pose is None else pose.roll)
                theirs.append(mp(f)[0])
            mp.close()
            truths = [t for _, t in frames]
            rows["fkd_moving"].append(moving_jitter_and_lag(ours, truths))
            rows["mp_moving"].append(moving_jitter_and_lag(theirs, truths))
            # the clip's turn, read back from its true points (the eye line), against fkd's roll
            true_roll = [np.degrees(np.arctan2(*(t[0] - t[1])[::-1])) for t in truths]
            if None not in our_rolls:
                rolls.append((np.array(our_rolls) - np.mean(our_rolls), np.array(true_roll) - np.mean(true_roll)))
    return rows, poses, rolls, len(items)


def faceless(photo, truth):
    """The photo with its face painted over by a blur of its surroundings: a frame that holds no face."""
    c, iod = truth.mean(axis=0), np.linalg.norm(truth[0] - truth[1])
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(mask, (int(c[0]), int(c[1])), (int(1.6 * iod), int(2.2 * iod)), 0, 0, 360, 255, -1)
    blurred = cv2.GaussianBlur(photo, (0, 0), 2 * iod)
    return np.where(mask[..., None] > 0, blurred, photo)


def false_faces(models, data, minimums=(0.0, 0.5, 0.7), every=4):
    """Faces fkd (image mode) reports on held-out photos whose face was painted over, per min_confidence."""
    val = selected_persons(models, "val")
    photos = [faceless(p, t) for _, person, p, t in list(frames_of(data))[::every] if person in val]
    out = {}
    for m in minimums:
        with FaceTracker(TrackerOptions(models_dir=models, mode="image", min_confidence=m)) as t:
            out[m] = sum(len(t.process(p)) for p in photos)
    return len(photos), out


def markdown(rows, poses, rolls, n_photos):
    def med(key, i=None):
        v = [r if i is None else r[i] for r in rows[key] if r is not None]
        return (float(np.median(v)) if v else float("nan")), len(v)

    lines = [f"{n_photos} held-out photos.", "",
             "| | fkd, video mode | MediaPipe FaceLandmarker, VIDEO mode |", "| --- | --- | --- |"]
    for label, f, m in (("still clips: jitter, median over photos (Kaggle-scale px)", "fkd_still", "mp_still"),
                        ("still clips with camera-like noise: jitter", "fkd_noisy", "mp_noisy")):
        (a, na), (b, nb) = med(f), med(m)
        lines.append(f"| {label} | {a:.3f} ({na} clips) | {b:.3f} ({nb} clips) |")
    (a, na), (b, nb) = med("fkd_moving", 0), med("mp_moving", 0)
    lines.append(f"| moving clips: frame-to-frame change of the error, median over clips | {a:.3f} ({na}) | {b:.3f} ({nb}) |")
    (a, _), (b, _) = med("fkd_moving", 1), med("mp_moving", 1)
    lines.append(f"| moving clips: lag, frames (median over clips) | {a:.0f} | {b:.0f} |")
    lines += ["", f"Head pose, fkd image mode against MediaPipe's facial transformation matrix ({len(poses)} photos "
              "both found):", "", "| angle | correlation | median absolute difference, degrees |", "| --- | --- | --- |"]
    ours, theirs = np.array([p[0] for p in poses]), np.array([p[1] for p in poses])
    for i, name in enumerate(("yaw", "pitch", "roll")):
        c = np.corrcoef(ours[:, i], theirs[:, i])[0, 1]
        lines.append(f"| {name} | {c:.3f} | {np.median(np.abs(ours[:, i] - theirs[:, i])):.1f} |")
    if rolls:
        ours_r, true_r = np.concatenate([r[0] for r in rolls]), np.concatenate([r[1] for r in rolls])
        lines += ["", f"Roll on the moving clips (turned +-{MOTION_DEGREES:.0f} degrees, a cycle every {MOTION_PERIOD} "
                  f"frames; {len(rolls)} clips tracked throughout), about each clip's mean: correlation "
                  f"{np.corrcoef(ours_r, true_r)[0, 1]:.3f} with the applied turn, median absolute difference "
                  f"{np.median(np.abs(ours_r - true_r)):.1f} degrees."]
    return "\n".join(lines)


def main():
    ap = arguments(__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=4)
    a = ap.parse_args()
    require("stability", a.data, a.task)
    pin()
    print(markdown(*measure(a.models, a.task, a.data, a.every)))
    n, found = false_faces(a.models, a.data)
    print(f"false faces on {n} faceless photos: " + ", ".join(f"min_confidence {m}: {k}" for m, k in found.items()))


if __name__ == "__main__":
    main()
