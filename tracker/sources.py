"""Frame sources: a camera, a video file, still images."""

import glob
import os
import threading

import cv2

from .errors import SourceError


IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def open_camera(index, timeout_s=5.0):
    """An opened camera capture, or SourceError within `timeout_s`."""
    result = {}

    def attempt():
        cap = cv2.VideoCapture(index)
        ok = cap.isOpened() and cap.read()[0]
        result["cap"], result["ok"] = cap, ok

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive() or not result.get("ok"):
        if result.get("cap") is not None:
            result["cap"].release()
        raise SourceError(f"camera {index} did not open (no such device, busy, or no permission)")
    return result["cap"]


def open_video(path):
    if not os.path.isfile(path):
        raise SourceError(f"{path}: no such video file")
    if path.lower().endswith(IMAGE_EXT):
        raise SourceError(f"{path}: is an image, not a video; use --images")
    cap = cv2.VideoCapture(path)
    # OpenCV opens a still image as a one-frame "image sequence": that is no video
    if not cap.isOpened() or cap.getBackendName() == "CV_IMAGES":
        cap.release()
        raise SourceError(f"{path}: cannot be read as a video")
    ok, _ = cap.read()
    if not ok:
        cap.release()
        raise SourceError(f"{path}: no frames could be decoded")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return cap


def video_info(cap):
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    return {"fps": fps if 0 < fps < 1000 else 30.0,
            "frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
            "size": (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))}


def _files(spec, recursive=False):
    """The files a folder, a file or a glob pattern names (`**` reaching into subfolders where `recursive`), sorted."""
    if os.path.isdir(spec):
        paths = [os.path.join(spec, f) for f in os.listdir(spec)]
    elif os.path.isfile(spec):
        paths = [spec]
    else:
        paths = glob.glob(spec, recursive=recursive)
    return sorted(p for p in paths if os.path.isfile(p))


def image_paths(spec):
    """Files of a folder, or of a glob pattern, that look like images, sorted."""
    paths = [p for p in _files(spec) if p.lower().endswith(IMAGE_EXT)]
    if not paths:
        raise SourceError(f"{spec}: no images found")
    return paths


def video_paths(spec):
    """Files of a folder, or of a glob pattern, other than images, sorted (a bad one fails when opened)."""
    paths = [p for p in _files(spec, recursive=True) if not p.lower().endswith(IMAGE_EXT)]
    if not paths:
        raise SourceError(f"{spec}: no videos found")
    return paths
