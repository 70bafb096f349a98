"""fkd-track: 15 facial keypoints on a camera, a video or still images.

    fkd-track --camera 0
    fkd-track --video clip.mp4 --out annotated.mp4 --json points.jsonl
    fkd-track --images 'photos/*.jpg' --json points.jsonl
"""

import json
import os
import sys
import time

import click
import cv2

from .detectors import DetectorError
from .draw import draw_faces
from .facetracker import DEFAULT_MODELS, FaceTracker, TrackerOptions
from .manifest import ModelError
from .sources import SourceError, VideoSink, image_paths, open_camera, open_video, video_info

DEFAULTS = TrackerOptions()


class JsonLines:
    """One JSON object per frame or image; flushed as it goes so a stopped run keeps what it did."""

    def __init__(self, path):
        try:
            self.f = open(path, "w") if path else None
        except OSError as e:
            raise SourceError(f"{path}: cannot write ({e.strerror})") from None

    def write(self, frame, source, time_s, faces):
        if self.f:
            self.f.write(json.dumps({"frame": frame, "source": source,
                                     "time_s": None if time_s is None else round(time_s, 4),
                                     "faces": [f.to_json() for f in faces]}) + "\n")
            self.f.flush()

    def close(self):
        if self.f:
            self.f.close()


class Window:
    """cv2.imshow with a one-line error where there is no display."""

    def __init__(self, show, title="fkd"):
        self.show, self.title = show, title
        if show and sys.platform.startswith("linux") and not (
                os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # Qt would abort the process rather than raise
            raise SourceError("no display to show a window on: add --no-show (and --out or --json)")

    def __call__(self, frame):
        """Shows a frame; True when the user asked to quit (q or Esc)."""
        if not self.show:
            return False
        try:
            cv2.imshow(self.title, frame)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            raise SourceError("cannot open a window (no display?): add --no-show") from None
        return key in (ord("q"), 27)

    def close(self):
        if self.show:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass


def run_stream(tracker, cap, sink, jsonl, window, total=None, fps_in=None, progress=True, source=None):
    """Frames of a capture through the tracker; returns the number of frames done."""
    from tqdm import tqdm

    bar = tqdm(total=total or None, unit="frame", disable=not progress, dynamic_ncols=True)
    n, fps, last = 0, None, time.perf_counter()
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            faces = tracker.process(frame)
            now = time.perf_counter()
            inst = 1.0 / max(now - last, 1e-6)
            fps = inst if fps is None else 0.9 * fps + 0.1 * inst
            last = now
            jsonl.write(n, source, n / fps_in if fps_in else None, faces)
            if sink or window.show:
                draw_faces(frame, faces, fps if window.show else None)
            if sink:
                sink.write(frame)
            n += 1
            bar.update(1)
            if window(frame):
                break
    except KeyboardInterrupt:
        click.echo(f"\nstopped after {n} frames", err=True)
    finally:
        bar.close()
    return n


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--camera", type=int, default=None, help="Camera index.")
@click.option("--video", type=str, default=None, help="Video file to annotate.")
@click.option("--images", type=str, default=None, help="Folder or glob of still images.")
@click.option("--out", type=str, default=None, help="Annotated video (with --video/--camera) or folder (with --images).")
@click.option("--json", "json_path", type=str, default=None, help="JSON Lines output, one object per frame.")
@click.option("--models", "models_dir", default=DEFAULT_MODELS, help="Folder with manifest.json.")
@click.option("--detector", type=click.Choice(["haar", "mediapipe"]), default="haar")
@click.option("--detector-model", default=None, help="BlazeFace .tflite for --detector mediapipe.")
@click.option("--threads", default=DEFAULTS.threads, help="LiteRT threads.")
@click.option("--max-faces", default=DEFAULTS.max_faces)
@click.option("--detect-every", default=DEFAULTS.detect_every,
              help="Video: frames between detector runs while tracking holds (a lost face is looked for at once).")
@click.option("--no-smoothing", is_flag=True)
@click.option("--refine", type=click.IntRange(0), default=DEFAULTS.refine, show_default=True,
              help="Images: crops per face after the detector's, each framed and turned upright by the points "
                   "so far (0: the detector's crop alone, a third of the default's model time).")
@click.option("--show/--no-show", default=None, help="Window; default: on for --camera, off otherwise.")
def main(camera, video, images, out, json_path, models_dir, detector, detector_model, threads, max_faces,
         detect_every, no_smoothing, refine, show):
    chosen = [x is not None for x in (camera, video, images)]
    if sum(chosen) != 1:
        fail("give exactly one of --camera N, --video FILE, --images DIR_OR_GLOB")
    show = (camera is not None) if show is None else show
    options = TrackerOptions(models_dir=models_dir, mode="image" if images else "video", detector=detector,
                             detector_options={"model_path": detector_model} if detector == "mediapipe" else {},
                             max_faces=max_faces, threads=threads, detect_every=detect_every,
                             smoothing=not no_smoothing, refine=refine)
    sink = jsonl = cap = window = None
    try:
        window = Window(show)
        # everything that can fail is checked before the first frame
        if images:
            paths = image_paths(images)
            if out and not os.path.isdir(out):
                try:
                    os.makedirs(out, exist_ok=True)
                except OSError as e:
                    raise SourceError(f"{out}: cannot create folder ({e.strerror})") from None
        elif video is not None:
            cap = open_video(video)
        jsonl = JsonLines(json_path)
        info = video_info(cap) if cap is not None else None
        if info and out:
            sink = VideoSink(out, info["fps"], info["size"])
        tracker = FaceTracker(options)
        if camera is not None:
            cap = open_camera(camera)
            info = video_info(cap)
            if out:
                sink = VideoSink(out, info["fps"], info["size"])
        with tracker:
            if images:
                run_images(tracker, paths, out, jsonl)
            else:
                run_stream(tracker, cap, sink, jsonl, window, total=info["frames"] if video else None,
                               fps_in=info["fps"] if video else None, source=video)
                if sink:
                    click.echo(f"wrote {sink.frames} frames to {sink.path}", err=True)
    except (SourceError, ModelError, DetectorError) as e:
        fail(e)
    finally:
        for thing in (sink, cap):
            if thing is not None:
                thing.release()
        if jsonl:
            jsonl.close()
        if window:
            window.close()


def run_images(tracker, paths, out, jsonl):
    from tqdm import tqdm

    for i, path in enumerate(tqdm(paths, unit="image", disable=len(paths) < 10)):
        frame = cv2.imread(path, cv2.IMREAD_COLOR)
        if frame is None:
            click.echo(f"fkd-track: skipped {path}: not a readable image", err=True)
            jsonl.write(i, path, None, [])
            continue
        faces = tracker.process(frame)
        jsonl.write(i, path, None, faces)
        if out:
            cv2.imwrite(os.path.join(out, os.path.basename(path)), draw_faces(frame, faces))
        if not jsonl.f and not out:
            click.echo(f"{path}: {len(faces)} face(s)")


def fail(msg):
    click.echo(f"fkd-track: error: {msg}", err=True)
    sys.exit(2)


if __name__ == "__main__":
    main()
