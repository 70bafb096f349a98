"""The embedded demo: a clip made from a real photo that matplotlib ships (Grace Hopper).

The photo is moved, scaled and rotated over the frames, so the true position
of each keypoint in every frame is known: the reference points below carried
through each frame's transform. The reference points were placed with
MediaPipe FaceLandmarker on the still photo and checked by eye.

    python -m fkd.demo examples/demo.mp4 --frame-png examples/demo-frame.png
"""

import cv2
import numpy as np

# (15, 2) in grace_hopper.jpg pixels, rows in tracker.keypoints.NAMES order
GRACE_HOPPER_KEYPOINTS = np.array([
    [306.5, 187.3], [223.0, 192.2], [288.9, 192.8], [322.0, 186.7], [240.5, 195.8],
    [207.2, 193.5], [282.1, 174.5], [340.6, 168.3], [245.0, 177.2], [185.5, 177.5],
    [266.7, 246.7], [302.5, 276.7], [234.0, 279.4], [266.3, 272.8], [267.0, 290.4]])


def photo():
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: matplotlib's sample photo is missing")
    return img


def frames(n=90, size=(640, 480), seed=None):
    """Yields (BGR frame, (15, 2) true keypoints) for each of n frames."""
    img = photo()
    w, h = size
    cx, cy = GRACE_HOPPER_KEYPOINTS.mean(axis=0)
    for i in range(n):
        t = i / max(n - 1, 1)
        angle = 12.0 * np.sin(2 * np.pi * t)
        scale = (0.75 + 0.2 * np.sin(np.pi * t)) * min(w, h) / 480.0
        dx = 0.18 * w * np.cos(2 * np.pi * t)
        dy = 0.12 * h * np.sin(4 * np.pi * t)
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        m[:, 2] += (w / 2 + dx - cx, h / 2 + dy - cy)
        frame = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(60, 40, 30))
        yield frame, GRACE_HOPPER_KEYPOINTS @ m[:, :2].T + m[:, 2]


def write_clip(path, n=90, size=(640, 480), fps=30.0):
    """Writes the clip and returns the (n, 15, 2) true keypoints."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError(f"cannot write {path}")
    truth = []
    for frame, kp in frames(n, size):
        writer.write(frame)
        truth.append(kp)
    writer.release()
    return np.stack(truth)


def annotated_frame(path, index=30, models_dir=None):
    """One frame of the demo run through the tracker (video mode up to it), drawn, as PNG."""
    from .draw import draw_faces
    from .facetracker import FaceTracker, TrackerOptions

    opts = TrackerOptions() if models_dir is None else TrackerOptions(models_dir=models_dir)
    with FaceTracker(opts) as tracker:
        for i, (frame, _) in enumerate(frames()):
            faces = tracker.process(frame)
            if i == index:
                cv2.imwrite(path, draw_faces(frame, faces))
                return path


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Write the demo clip (and optionally one annotated frame).")
    ap.add_argument("out", nargs="?", default="examples/demo.mp4")
    ap.add_argument("--frame-png", default=None, help="Also write frame 30, annotated, to this PNG.")
    a = ap.parse_args()
    write_clip(a.out)
    print(f"wrote {a.out}")
    if a.frame_png:
        print(f"wrote {annotated_frame(a.frame_png)}")
