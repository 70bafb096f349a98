"""Outputs that never destroy a file: written beside their destination under a temporary name, checked,
and moved into place only whole.

An existing file is untouched until a complete replacement exists, and two runs writing the same
output each write their own temporary file (the last to finish wins, whole). A device or pipe
(`/dev/stdout`) is written to directly. Every write is checked: a failed one raises OutputError
saying how much was written.
"""

import csv
import io
import json
import os
import secrets

import cv2

from .errors import OutputError, SourceError

VIDEO_EXT = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
JSON_EXT = (".jsonl", ".ndjson", ".json")
CSV_EXT = (".csv",)


def _is_special(path):
    """An existing device or pipe: written in place, as there is nothing to replace."""
    return os.path.exists(path) and not os.path.isfile(path)


def check_destination(path, extensions, what):
    """Refuses, before anything is opened, an output that cannot be written there or is of an unknown kind."""
    if _is_special(path):
        return
    ext = os.path.splitext(path)[1].lower()
    if ext not in extensions:
        raise SourceError(f"{path}: {what} must end in {', '.join(extensions)}")
    if os.path.isdir(path):
        raise SourceError(f"{path}: is a folder; give a file name for the {what}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise SourceError(f"{path}: cannot write there (folder {parent} does not exist)")
    if not os.access(parent, os.W_OK):
        raise SourceError(f"{path}: cannot write there (folder {parent} is read-only)")


def same_file(a, b):
    """Whether two paths name one file (also through links), for refusing an output that is an input."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(os.path.realpath(a)) == os.path.abspath(os.path.realpath(b))


def partial_path(path):
    """A temporary name beside `path`, with its extension (writers pick the container by it)."""
    head, tail = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(tail)
    return os.path.join(head, f".{stem}.{os.getpid()}-{secrets.token_hex(3)}.partial{ext}")


def _discard(tmp):
    try:
        os.remove(tmp)
    except OSError:
        pass


class LinesOut:
    """A text file written a line at a time, flushed each line; `finish()` moves it into place."""

    def __init__(self, path):
        self.path, self.lines = path, 0
        self.tmp = path if _is_special(path) else partial_path(path)
        try:
            self.f = open(self.tmp, "w")
        except OSError as e:
            raise OutputError(f"{path}: cannot write ({e.strerror})") from None

    def write(self, line):
        try:
            self.f.write(line + "\n")
            self.f.flush()
        except OSError as e:
            raise OutputError(f"{self.path}: write failed after {self.lines} lines ({e.strerror})") from None
        self.lines += 1

    def finish(self):
        """Closes and moves the whole file into place."""
        try:
            self.f.close()
            if self.tmp != self.path:
                os.replace(self.tmp, self.path)
        except OSError as e:
            self.abandon()
            raise OutputError(f"{self.path}: write failed after {self.lines} lines ({e.strerror}); "
                              "the file there is as it was") from None

    def abandon(self):
        """Drops what was written; the destination stays as it was."""
        try:
            self.f.close()
        except OSError:
            pass
        if self.tmp != self.path:
            _discard(self.tmp)


class JsonLinesOut(LinesOut):
    """One JSON object a line."""

    def write(self, obj):
        super().write(json.dumps(obj))


class CsvOut(LinesOut):
    """Rows of a CSV with a header, in the style of OpenFace's FeatureExtraction output."""

    def __init__(self, path, header):
        super().__init__(path)
        self.write(header)

    def write(self, row):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(row)
        super().write(buf.getvalue())


class VideoOut:
    """An annotated video; `finish()` checks that it plays back every frame written, then moves it into place."""

    def __init__(self, path, fps, size):
        self.path, self.size, self.frames = path, tuple(size), 0
        ext = os.path.splitext(path)[1].lower()
        self.tmp = partial_path(path)
        self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*VIDEO_EXT.get(ext, "mp4v")), fps, self.size)
        if not self.writer.isOpened():
            _discard(self.tmp)
            raise OutputError(f"{path}: cannot open a video writer there")

    def write(self, frame):
        self.writer.write(frame)
        self.frames += 1

    def finish(self):
        """Releases the writer and moves the video into place if it holds every frame written, else
        leaves the destination as it was and raises OutputError (a full disk, a writer that dropped frames)."""
        self.writer.release()
        played = playable_frames(self.tmp)
        if played != self.frames:
            _discard(self.tmp)
            raise OutputError(f"{self.path}: the video writer kept {played} of the {self.frames} frames written "
                              "(disk full or an I/O error?); the file there is as it was")
        try:
            os.replace(self.tmp, self.path)
        except OSError as e:
            _discard(self.tmp)
            raise OutputError(f"{self.path}: cannot move the finished video into place ({e.strerror})") from None

    def abandon(self):
        self.writer.release()
        _discard(self.tmp)


def playable_frames(path):
    """Frames a video file plays back (0 for none or no file), from its index."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return 0
    cap = cv2.VideoCapture(path)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()


def write_image(path, image):
    """An image written whole beside `path`, then moved into place; OutputError if it was not."""
    tmp = partial_path(path)
    try:
        ok = cv2.imwrite(tmp, image)
    except cv2.error:
        ok = False
    try:
        if not ok or os.path.getsize(tmp) == 0:
            raise OutputError(f"{path}: the image could not be written (disk full, or read-only?)")
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"{path}: the image could not be written ({e.strerror})") from None
    finally:
        _discard(tmp)
