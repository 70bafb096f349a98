"""One run's frames through a tracker into its outputs: a video or camera stream, or a list of images.

Shared by `fkd-track` and its collection mode (`fkd.collection`); the outputs are `fkd.outputs`' whole-or-nothing
writers, and what a frame's record holds is here (JSON Lines and CSV).
"""

import os
import signal
import time

import click
import cv2

from .draw import draw_faces
from .keypoints import NAMES as KEYPOINT_NAMES
from .errors import OutputError
from .outputs import CsvOut, JsonLinesOut, write_image

PROG = "fkd-track"


CSV_HEADER = (["frame", "timestamp", "source", "face_id", "confidence", "success"]
              + [f"{axis}_{n}" for n in KEYPOINT_NAMES for axis in "xy"] + ["pose_yaw", "pose_pitch", "pose_roll"])


def csv_rows(frame, source, time_s, faces):
    """The CSV rows of one frame or image: one a face, or one with success 0 where there is none."""
    stamp = "" if time_s is None else round(time_s, 4)
    if not faces:
        return [[frame, stamp, source or "", "", "", 0] + [""] * (len(CSV_HEADER) - 6)]
    rows = []
    for i, f in enumerate(faces):
        pose = [round(v, 1) for v in (f.pose.yaw, f.pose.pitch, f.pose.roll)] if f.pose else ["", "", ""]
        rows.append([frame, stamp, source or "", f.track_id if f.track_id is not None else i,
                     "" if f.confidence is None else round(f.confidence, 3), 1]
                    + [round(float(v), 2) for v in f.keypoints.reshape(-1)] + pose)
    return rows


class Records:
    """The per-frame outputs that are text: JSON Lines and CSV, either or both."""

    def __init__(self, json_path, csv_path):
        self.jsonl = JsonLinesOut(json_path) if json_path else None
        try:
            self.csv = CsvOut(csv_path, CSV_HEADER) if csv_path else None
        except OutputError:
            self.abandon()
            raise

    def __bool__(self):
        return bool(self.jsonl or self.csv)

    def write(self, frame, source, time_s, faces, error=None):
        if self.jsonl:
            self.jsonl.write(frame_record(frame, source, time_s, faces, error))
        if self.csv:
            for row in csv_rows(frame, source, time_s, faces):
                self.csv.write(row)

    def finish(self):
        for out in (self.jsonl, self.csv):
            if out:
                out.finish()

    def abandon(self):
        for out in (self.jsonl, self.csv):
            if out:
                out.abandon()


def frame_record(frame, source, time_s, faces, error=None):
    """One line of the JSON Lines output."""
    rec = {"frame": frame, "source": source, "time_s": None if time_s is None else round(time_s, 4),
           "faces": [f.to_json() for f in faces]}
    if error:
        rec["error"] = error
    return rec


def annotated_paths(paths, out):
    """Where each image's annotated copy goes: its path under the inputs' common folder, so two photos
    of one name from different folders keep their own copies."""
    common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    return [os.path.join(out, os.path.relpath(os.path.abspath(p), common)) for p in paths]


def run_stream(tracker, cap, video_out, records, window, stop, total=None, fps_in=None, progress=True, source=None,
               pose=False):
    """Frames of a capture through the tracker until it ends, the user quits (`window`, or None where
    nothing is shown) or a signal comes; returns the number of frames done."""
    from tqdm import tqdm

    bar = tqdm(total=total or None, unit="frame", disable=not progress, dynamic_ncols=True)
    n, fps, last = 0, None, time.perf_counter()
    try:
        while stop.signum is None:
            try:
                ok, frame = cap.read()
            except KeyboardInterrupt:   # where no handler could be set (not the main thread)
                stop.signum = signal.SIGINT
                break
            if not ok:
                break
            time_s = n / fps_in if fps_in else None
            faces = tracker.process(frame, None if time_s is None else 1000.0 * time_s)
            now = time.perf_counter()
            inst = 1.0 / max(now - last, 1e-6)
            fps = inst if fps is None else 0.9 * fps + 0.1 * inst
            last = now
            records.write(n, source, time_s, faces)
            shown = window is not None and window.show
            if video_out or shown:
                draw_faces(frame, faces, fps if shown else None, pose=pose)
            if video_out:
                video_out.write(frame)
            n += 1
            bar.update(1)
            if shown and window(frame):
                break
    finally:
        bar.close()
    return n


def run_images(tracker, paths, out, records, stop, pose=False):
    """Each image through the tracker; returns (images done, faces found, images unreadable)."""
    from tqdm import tqdm

    targets = annotated_paths(paths, out) if out else [None] * len(paths)
    faces_found, unreadable = 0, 0
    done = 0
    for i, (path, target) in enumerate(zip(tqdm(paths, unit="image", disable=len(paths) < 10), targets)):
        if stop.signum is not None:
            break
        done += 1
        frame = cv2.imread(path, cv2.IMREAD_COLOR)
        if frame is None:
            unreadable += 1
            click.echo(f"{PROG}: warning: {path}: not a readable image", err=True)
            records.write(i, path, None, [], error="not a readable image")
            continue
        faces = tracker.process(frame)
        faces_found += len(faces)
        records.write(i, path, None, faces)
        if target:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            write_image(target, draw_faces(frame, faces, pose=pose))
        if not records and not out:
            click.echo(f"{path}: {len(faces)} face(s)")
    return done, faces_found, unreadable
