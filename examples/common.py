"""What the examples share: where the frames come from (the demo clip, a video, or a camera)."""

import argparse
import os

import cv2

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.mp4")


def parser(description, out=None):
    """The options every example takes; `out` adds --out with that default and --show, for a video."""
    ap = argparse.ArgumentParser(description=description)
    if out:
        ap.add_argument("--out", default=out)
        ap.add_argument("--show", action="store_true", help="also in a window (q or Esc quits)")
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


class Output:
    """The drawn frames: written to --out, and shown with --show; calling it says whether to quit."""

    def __init__(self, args, title, fps=30.0):
        self.path, self.show, self.title, self.fps, self.writer = args.out, args.show, title, fps, None

    def __call__(self, frame):
        if self.writer is None:
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise SystemExit(f"cannot write {self.path}")
        self.writer.write(frame)
        if self.show:
            cv2.imshow(self.title, frame)
            return cv2.waitKey(1) & 0xFF in (ord("q"), 27)
        return False

    def close(self):
        if self.writer is not None:
            self.writer.release()
            print(f"wrote {self.path}")
