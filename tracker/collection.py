"""`fkd-track --videos GLOB --out-dir DIR`: each video of a collection into its own outputs.

A video's outputs are named by its path under the videos' common folder (`DIR/sub/clip.mp4`,
`clip.jsonl`, `clip.csv`), written whole or not at all (`fkd.outputs`), so a video whose outputs all
exist and are newer than it is done, and a rerun skips it. Videos run one after another here, or one
Ray task each over a cluster (`--ray`); a video that fails fails alone, its error in the summary.
"""

import os
import time
from dataclasses import dataclass
from types import SimpleNamespace

from .errors import FkdError, SourceError
from .outputs import VideoOut, same_file
from .runs import Records, annotated_paths, run_stream
from .sources import open_video, video_info, video_paths

OUTPUT_KINDS = {"video": ".mp4", "jsonl": ".jsonl", "csv": ".csv"}


@dataclass
class Job:
    video: str
    outputs: dict   # kind -> path

    def complete(self):
        """Every output there, and newer than the video (outputs appear only whole)."""
        made = os.path.getmtime(self.video)
        return all(os.path.isfile(p) and os.path.getmtime(p) >= made for p in self.outputs.values())


def plan(pattern, out_dir, kinds):
    """The jobs of a glob (`**` reaches into subfolders) or folder of videos; a SourceError where there are
    none or an output would be an input."""
    videos = video_paths(pattern)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SourceError(f"{out_dir}: --out-dir must be a folder")
    jobs = [Job(v, {k: os.path.splitext(target)[0] + OUTPUT_KINDS[k] for k in kinds})
            for v, target in zip(videos, annotated_paths(videos, out_dir))]
    names = [p for j in jobs for p in j.outputs.values()]
    for path in names:
        if any(same_file(path, v) for v in videos):
            raise SourceError(f"{path}: is one of the input videos; give another --out-dir")
    if len(set(names)) < len(names):
        raise SourceError("two videos differ only in their extension and would share outputs: "
                          "move one or track it alone")
    return jobs


def track(job, options, stop=None):
    """One video through a fresh tracker into its outputs; a dict of what was done, or None where `stop`
    came first (its outputs abandoned). FkdError for a video that cannot be tracked."""
    from .facetracker import FaceTracker

    stop = stop or SimpleNamespace(signum=None)
    t0 = time.perf_counter()
    tracker = FaceTracker(options)
    try:
        cap = open_video(job.video)
    except FkdError:
        tracker.close()
        raise
    outputs = []
    try:
        for path in job.outputs.values():
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        info = video_info(cap)
        records = Records(job.outputs.get("jsonl"), job.outputs.get("csv"))
        outputs.append(records)
        if "video" in job.outputs:
            outputs.append(VideoOut(job.outputs["video"], info["fps"], info["size"]))
        frames = run_stream(tracker, cap, outputs[-1] if "video" in job.outputs else None, records, None, stop,
                            fps_in=info["fps"], progress=False, source=job.video)
        if stop.signum is not None:
            return None
        for o in outputs:
            o.finish()
        outputs = []
        short = info["frames"] and frames < info["frames"]
        return {"video": job.video, "frames": frames, "seconds": time.perf_counter() - t0,
                "warning": f"decoded {frames} of the {info['frames']} frames its header announces" if short else None}
    finally:
        for o in outputs:   # failed or stopped: the destinations stay as they were
            o.abandon()
        cap.release()
        tracker.close()


def attempt(job, options, stop=None):
    """`track`, with a video's failure returned as a plain value: it fails alone, named in the summary."""
    try:
        return track(job, options, stop)
    except FkdError as e:
        return {"video": job.video, "error": str(e)}


def run(jobs, options, stop, ray_address=None, progress=True):
    """Every job not yet complete, serially or on Ray; returns (results, skipped, stopped)."""
    from tqdm import tqdm

    todo = [j for j in jobs if not j.complete()]
    skipped = len(jobs) - len(todo)
    results = []
    bar = tqdm(total=len(jobs), initial=skipped, unit="video", disable=not progress, dynamic_ncols=True)
    try:
        if ray_address is None:
            for job in todo:
                if stop.signum is not None:
                    break
                r = attempt(job, options, stop)
                if r is None:
                    break
                results.append(r)
                bar.update(1)
        else:
            from .cluster import connect, task_error

            ray = connect(ray_address)
            remote = ray.remote(num_cpus=1, max_retries=2)(attempt)
            pending = {remote.remote(j, options): j for j in todo}
            while pending and stop.signum is None:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        results.append(ray.get(ref))
                    except Exception as e:   # the task's node lost beyond its retries, or the like
                        results.append({"video": job.video, "error": str(task_error(e))})
                    bar.update(1)
            for ref in pending:   # stopped: a cancelled task abandons its outputs
                ray.cancel(ref)
    finally:
        bar.close()
    return results, skipped, stop.signum is not None


def summary(results, skipped, wall_s):
    """The one line a collection run ends with."""
    failed = [r for r in results if "error" in r]
    done = [r for r in results if "error" not in r]
    frames = sum(r["frames"] for r in done)
    line = (f"{len(done) + skipped + len(failed)} videos: {len(done)} tracked, {skipped} skipped (outputs complete), "
            f"{len(failed)} failed")
    if failed:
        line += " (" + "; ".join(r["error"] if r["video"] in r["error"] else f"{r['video']}: {r['error']}"
                                 for r in failed) + ")"
    line += f"; {frames} frames"
    if frames:
        line += f" at {frames / max(wall_s, 1e-9):.1f} frames/s overall"
    return line
