"""fkd-track: 15 facial keypoints on a camera, a video or still images.

    fkd-track --camera 0
    fkd-track --video clip.mp4 --out annotated.mp4 --json points.jsonl
    fkd-track --images 'photos/*.jpg' --out drawn/ --json points.jsonl
    fkd-track --videos 'clips/*.mp4' --out-dir tracked/ [--ray local]

Read top to bottom: check everything -> open the tracker and the inputs -> open the outputs -> run ->
finish the outputs. Nothing is written before every check passed, and outputs replace a file only whole
(fkd.outputs).
"""

import os
import sys
import time

import click
import cv2

from .commands import FAILED, Command, Stop, fail
from .errors import FkdError, OutputError, SourceError
from .facetracker import FaceTracker, TrackerOptions
from .outputs import CSV_EXT, JSON_EXT, VIDEO_EXT, VideoOut, check_destination, same_file
from .collection import OUTPUT_KINDS
from .runs import PROG, Records, run_images, run_stream
from .sources import image_paths, open_camera, open_video, video_info
DEFAULTS = TrackerOptions()


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


def check_outputs(video, images, out, json_path, csv_path=None):
    """Every refusal about outputs, before anything is opened: kinds, folders, and no output an input."""
    given = [(name, p) for name, p in (("--out", out), ("--json", json_path), ("--csv", csv_path)) if p]
    for name, p in given:
        if video and same_file(p, video):
            raise SourceError(f"{p}: is the input video; an output must not overwrite it")
    for i, (a, pa) in enumerate(given):
        for b, pb in given[i + 1:]:
            if same_file(pa, pb):
                raise SourceError(f"{pa}: {a} and {b} name the same file")
    if json_path:
        check_destination(json_path, JSON_EXT, "--json output")
    if csv_path:
        check_destination(csv_path, CSV_EXT, "--csv output")
    if out and not images:
        check_destination(out, tuple(VIDEO_EXT), "--out video")
    if images:
        paths = image_paths(images)
        for p in paths:
            for _, q in (g for g in given if g[0] != "--out"):
                if same_file(q, p):
                    raise SourceError(f"{q}: is one of the input images")
        if out:
            if os.path.exists(out) and not os.path.isdir(out):
                raise SourceError(f"{out}: with --images, --out is a folder for the annotated copies")
            folders = {os.path.dirname(os.path.abspath(p)) for p in paths}
            if os.path.isdir(out) and any(same_file(out, f) for f in folders):
                raise SourceError(f"{out}: is a folder of the input images; annotated copies would overwrite "
                                  "them: give another --out folder")
            parent = os.path.dirname(os.path.abspath(out))
            if not os.access(out if os.path.isdir(out) else parent, os.W_OK):
                raise SourceError(f"{out}: cannot write there (read-only)")
        return paths
    return None


@click.command(PROG, cls=Command, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--camera", type=click.IntRange(0), default=None, help="Camera index (0 is the first).")
@click.option("--video", type=str, default=None, help="Video file to annotate.")
@click.option("--images", type=str, default=None, help="Folder or glob of still images.")
@click.option("--out", type=str, default=None,
              help=f"Annotated video ({', '.join(VIDEO_EXT)}; with --video/--camera) or folder (with --images).")
@click.option("--json", "json_path", type=str, default=None,
              help=f"JSON Lines output ({', '.join(JSON_EXT)}), one object per frame or image.")
@click.option("--csv", "csv_path", type=str, default=None,
              help="CSV output, a row per face and frame (OpenFace's FeatureExtraction columns: frame, timestamp, "
                   "face_id, confidence, success, x_/y_ of each point, pose).")
@click.option("--draw-pose", is_flag=True, help="Draw each face's head-pose axes and angles on --out and the window.")
@click.option("--min-confidence", type=click.FloatRange(0, 1, max_open=True), default=DEFAULTS.min_confidence,
              help="Drop faces whose confidence is under this.")
@click.option("--models", "models_dir", default=None, help="Folder with manifest.json [default: $FKD_MODELS, "
              "else the models inside fkd].")
@click.option("--detector", type=click.Choice(["haar", "blazeface", "mediapipe"]), default="haar",
              help="haar: OpenCV's cascade; blazeface: MediaPipe's full-range CNN (pip install 'fkd[blazeface]'); "
                   "mediapipe: BlazeFace short range through mediapipe (--detector-model).")
@click.option("--detector-model", default=None, help="The .tflite of --detector mediapipe (or another for blazeface).")
@click.option("--threads", type=click.IntRange(1), default=DEFAULTS.threads, help="LiteRT threads.")
@click.option("--max-faces", type=click.IntRange(1), default=DEFAULTS.max_faces, help="Faces per frame, largest first.")
@click.option("--detect-every", type=click.IntRange(1), default=DEFAULTS.detect_every,
              help="Video: frames between detector runs while tracking holds (a lost face is looked for at once).")
@click.option("--idle-detect-every", type=click.IntRange(1), default=DEFAULTS.idle_detect_every,
              help="Video: frames between detector runs while no face is tracked.")
@click.option("--infer-every", type=click.IntRange(1), default=DEFAULTS.infer_every,
              help="Video: the models answer every Nth frame; optical flow carries the points between.")
@click.option("--no-smoothing", is_flag=True)
@click.option("--refine", type=click.IntRange(0, 8), default=DEFAULTS.refine,
              help="Images: crops per face after the detector's, each framed and turned upright by the points "
                   "so far (0: the detector's crop alone, a third of the default's model time).")
@click.option("--show/--no-show", default=None, help="Window; default: on for --camera, off otherwise.")
@click.option("--videos", type=str, default=None,
              help="Folder or glob of videos, each tracked into its own outputs in --out-dir; a rerun skips "
                   "the videos whose outputs are complete.")
@click.option("--out-dir", type=str, default=None, help="With --videos: where each video's outputs go.")
@click.option("--outputs", "output_kinds", default="video,jsonl",
              help=f"With --videos: which outputs each video gets, of {', '.join(OUTPUT_KINDS)}.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS|auto|local]",
              help="With --videos: one Ray task per video over a cluster (pip install 'fkd[distributed]'); "
                   "alone, a cluster of this machine.")
def main(camera, video, images, out, json_path, csv_path, draw_pose, min_confidence, models_dir, detector, detector_model, threads, max_faces,
         detect_every, idle_detect_every, infer_every, no_smoothing, refine, show, videos, out_dir, output_kinds, ray_address):
    chosen = [x is not None for x in (camera, video, images, videos)]
    if sum(chosen) != 1:
        fail(PROG, "give exactly one of --camera N, --video FILE, --images DIR_OR_GLOB, --videos DIR_OR_GLOB")
    options = dict(models_dir=models_dir, detector=detector,
                   detector_options={"model_path": detector_model} if detector_model or detector == "mediapipe" else {},
                   max_faces=max_faces, threads=threads, detect_every=detect_every, idle_detect_every=idle_detect_every,
                   infer_every=infer_every, smoothing=not no_smoothing, refine=refine, min_confidence=min_confidence)
    if videos is not None:
        if out or json_path or csv_path or show:
            fail(PROG, "--videos writes each video's outputs into --out-dir (choose them with --outputs); "
                       "--out, --json, --csv and --show are for one video")
        return collect(videos, out_dir, output_kinds, ray_address, options)
    if out_dir or ray_address:
        fail(PROG, "--out-dir and --ray go with --videos")
    show = (camera is not None) if show is None else show
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)   # its failures become our one-line errors
    tracker = cap = window = None
    outputs = []
    try:
        # 1. every check that needs no output opened
        window = Window(show)
        paths = check_outputs(video, images, out, json_path, csv_path)
        tracker = FaceTracker(TrackerOptions(mode="image" if images else "video", **options))
        if video is not None:
            cap = open_video(video)
        elif camera is not None:
            cap = open_camera(camera)
        info = video_info(cap) if cap is not None else None
        # 2. the outputs, under temporary names beside their destinations
        with Stop() as stop:
            records = Records(json_path, csv_path)
            outputs.append(records)
            video_out = VideoOut(out, info["fps"], info["size"]) if out and info else None
            outputs.append(video_out)
            if images:
                done, found, unreadable = run_images(tracker, paths, out, records, stop, pose=draw_pose)
            else:
                done = run_stream(tracker, cap, video_out, records, window, stop, pose=draw_pose,
                                  total=info["frames"] if video else None,
                                  fps_in=info["fps"] if video else None, source=video)
            # 3. finished (or stopped by a signal): the outputs moved into place whole
            for o in outputs:
                if o is not None:
                    o.finish()
            outputs = []
        summary = (f"{done} images, {found} faces, {unreadable} unreadable" if images else f"{done} frames")
        wrote = [p for p in (out if not images else None, json_path, csv_path) if p]
        if images and out:
            wrote.append(f"annotated copies in {out}")
        if stop.signum is not None:
            click.echo(f"{PROG}: stopped by {stop.name} after {summary}" +
                       (f"; wrote them to {', '.join(wrote)}" if wrote else ""), err=True)
            sys.exit(stop.exit_code)
        if video and info["frames"] and done < info["frames"]:
            click.echo(f"{PROG}: warning: {video}: decoded {done} of the {info['frames']} frames its header "
                       "announces (truncated or damaged?)", err=True)
        click.echo(f"{summary}" + (f"; wrote {', '.join(wrote)}" if wrote else ""), err=True)
    except OutputError as e:
        fail(PROG, e, FAILED)
    except FkdError as e:
        fail(PROG, e)
    finally:
        for o in outputs:   # a failed run: the destinations stay as they were
            if o is not None:
                o.abandon()
        if cap is not None:
            cap.release()
        if tracker is not None:
            tracker.close()
        if window:
            window.close()


def collect(videos, out_dir, output_kinds, ray_address, options):
    """--videos: each video into its own outputs, one after another or on Ray; one summary line."""
    from .collection import plan, run, summary

    kinds = [k.strip() for k in output_kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in OUTPUT_KINDS]
    if not out_dir:
        fail(PROG, "--videos needs --out-dir, the folder for each video's outputs")
    if unknown or not kinds:
        fail(PROG, f"--outputs {output_kinds!r}: choose from {', '.join(OUTPUT_KINDS)}")
    t0 = time.perf_counter()
    try:
        jobs = plan(videos, out_dir, kinds)
        opts = TrackerOptions(mode="video", **options)
        FaceTracker(opts).close()   # the models and the detector checked once, before any video starts
        with Stop() as stop:
            results, skipped, stopped = run(jobs, opts, stop, ray_address)
    except FkdError as e:
        fail(PROG, e)
    for r in results:
        if r.get("warning"):
            click.echo(f"{PROG}: warning: {r['video']}: {r['warning']}", err=True)
    line = summary(results, skipped, time.perf_counter() - t0)
    if stopped:
        click.echo(f"{PROG}: stopped by {stop.name}; {line}", err=True)
        sys.exit(stop.exit_code)
    click.echo(line, err=True)
    if any("error" in r for r in results):
        sys.exit(FAILED)


if __name__ == "__main__":
    main()
