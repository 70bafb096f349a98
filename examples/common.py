"""What the examples share: where the frames come from (the demo clip, a video, or a camera)."""

import argparse
import os

import cv2

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.mp4")


def parser(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--video", default=DEMO, help="a video file (default: the demo clip)")
    ap.add_argument("--camera", type=int, default=None, help="a camera index instead of --video")
    ap.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    return ap


def frames(args):
    """(index, timestamp in ms, BGR frame) from the camera or the video, up to --frames."""
    cap = cv2.VideoCapture(args.camera if args.camera is not None else args.video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {'camera %d' % args.camera if args.camera is not None else args.video}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    i = 0
    try:
        while args.frames is None or i < args.frames:
            ok, frame = cap.read()
            if not ok:
                break
            yield i, i * 1000.0 / fps, frame
            i += 1
    finally:
        cap.release()


def writer(path, frame, fps=30.0):
    h, w = frame.shape[:2]
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not out.isOpened():
        raise SystemExit(f"cannot write {path}")
    return out
