"""fkd-eval: the full tracker pipeline on full frames, scored as Kaggle-scale RMSE.

    fkd-eval --data ../shared/data/youtube-faces-68            # the persons held out in training
    fkd-eval --data training.csv --persons all
    fkd-eval --data ../shared/data/youtube-faces-68 --mode video --repeat 10   # tracking a still face
    fkd-eval --data ../shared/data/youtube-faces-68 --mode video --motion --repeat 30   # a moving one

Each face's error is scaled by 36 / (its true eye-centre distance), then the
RMSE is taken over all 30 coordinates of all faces found, pooled. A face with
no detection near it is a miss, reported beside the RMSE (never averaged in).
"""

import json
import os
import time

import click
import cv2
import numpy as np

from ..commands import Command
from ..confidence import KAGGLE_IOD
from ..errors import DataError, FkdError, ModelError
from ..facetracker import FaceTracker, TrackerOptions, default_models_dir
from ..keypoints import NAMES, from_68
from ..manifest import load_manifest



def frames_of(data_path):
    """(name, person, BGR frame, (15, 2) truth) for a 68-landmark folder or a Kaggle CSV."""
    from .data import load_kaggle_csv, person_of, read_landmark_folder

    if os.path.isdir(data_path):
        names, pts = read_landmark_folder(data_path)
        for name, k in zip(names, from_68(pts)):
            img = cv2.imread(os.path.join(data_path, "images", name), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f"{data_path}/images/{name}: missing or unreadable image")
            yield name, person_of(name), img, k
    else:
        ds = load_kaggle_csv(data_path, skip_bad=True)
        for name, img, k in zip(ds.names, ds.images, ds.keypoints):
            yield name, None, cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), k


def resized(item, scale):
    """A `frames_of()` item with its photo and points at `scale` times the size (pixel centres kept)."""
    if scale == 1:
        return item
    name, person, img, truth = item
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return name, person, img, (truth + 0.5) * scale - 0.5


def kaggle_errors(points, truth):
    """(n, 15, 2) errors scaled by 36 / each face's true eye distance (nan where a label is missing)."""
    iod = np.linalg.norm(truth[:, 0] - truth[:, 1], axis=1)
    return (points - truth) * (KAGGLE_IOD / iod)[:, None, None]


# a head's motion over a moving clip: one cycle a second at 30 fps, each of these at its own phase
MOTION_PERIOD, MOTION_DEGREES, MOTION_SCALE, MOTION_SHIFT = 30, 10.0, 0.12, (0.08, 0.06)


def moving_clip(frame, truth, n, rng):
    """(frame, true points) for n frames of a photo turned, scaled and moved about its face.

    The photo's border is repeated, so no edge moves through the picture. Each photo draws its own
    phases from `rng`, so no two clips move alike.
    """
    h, w = frame.shape[:2]
    c = truth.mean(axis=0)
    phase = rng.uniform(0, 2 * np.pi, 4)
    for i in range(n):
        a = 2 * np.pi * i / MOTION_PERIOD + phase
        m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), MOTION_DEGREES * np.sin(a[0]),
                                    1 + MOTION_SCALE * np.sin(a[1]))
        m[:, 2] += (MOTION_SHIFT[0] * w * np.sin(a[2]), MOTION_SHIFT[1] * h * np.sin(a[3]))
        yield cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REPLICATE), truth @ m[:, :2].T + m[:, 2]


def eye_offset(points, truth):
    """How far (15, 2) points' eye centres are from the true ones, in true eye distances: a face whose
    answer is half an eye distance off or more was not found."""
    return float(np.linalg.norm(points[:2] - truth[:2], axis=1).mean() / np.linalg.norm(truth[0] - truth[1]))


def nearest_face(faces, truth, max_miss_iod=0.5):
    """The face whose eye centres are nearest the true ones, or None where none is within max_miss_iod."""
    best = None
    for f in faces:
        d = eye_offset(f.keypoints, truth)
        if d < max_miss_iod and (best is None or d < best[0]):
            best = (d, f)
    return None if best is None else best[1]


def evaluate(tracker, items, repeat=1, motion=False, seed=0, keep_frames=True):
    """Scaled errors (n, 15, 2) of found faces, (name, frame, truth, points, Face) of each, the names of those
    missed, and seconds per frame. Without `keep_frames` the frame is None: a moving clip's frames are
    new arrays, and 30 a photo held for a montage nobody asked for fill gigabytes.

    `repeat` > 1 shows each photo as a still clip of that many frames to a video-mode tracker and
    scores the last: the detector frames the first, the tracker's own points frame the rest. With
    `motion`, the clip moves (moving_clip) and every frame is scored, each as a face of its own.
    A progress bar shows on a terminal.
    """
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    errors, names, missed, t_total = [], [], [], 0.0
    for name, _, photo, truth in tqdm(items, unit="face", disable=None, leave=False):
        tracker.reset()
        clip = moving_clip(photo, truth, repeat, rng) if motion else [(photo, truth)] * repeat
        scored = []
        for i, (frame, true) in enumerate(clip):
            t0 = time.perf_counter()
            faces = tracker.process(frame)
            t_total += (time.perf_counter() - t0) / repeat
            if motion or i == repeat - 1:
                scored.append((f"{name}#{i}" if motion else name, frame, true, nearest_face(faces, true)))
        for label, frame, true, face in scored:
            if face is None:
                missed.append(label)
                continue
            errors.append(kaggle_errors(face.keypoints[None], true[None])[0])
            names.append((label, frame if keep_frames else None, true, face.keypoints, face))
    return np.array(errors), names, missed, t_total


def face_errors(items, repeat=1, motion=False, **options):
    """{label: scaled (15, 2) errors} of the faces a FaceTracker made with these TrackerOptions found in
    `frames_of()` items, and the labels of those missed; labelled as evaluate() names them."""
    with FaceTracker(TrackerOptions(**{"max_faces": 8, **options})) as tracker:
        errors, found, missed, _ = evaluate(tracker, items, repeat=repeat, motion=motion, keep_frames=False)
    return dict(zip((f[0] for f in found), errors)), missed


def confidence_of(items, repeat=1, motion=False, **options):
    """summarize() and confidence_figures() of a FaceTracker with these TrackerOptions on `frames_of()` items."""
    with FaceTracker(TrackerOptions(**{"max_faces": 8, **options})) as tracker:
        errors, found, missed, _ = evaluate(tracker, items, repeat=repeat, motion=motion, keep_frames=False)
    return summarize(errors, missed), confidence_figures(errors, found)


def score(items, repeat=1, motion=False, **options):
    """summarize_found() of face_errors()."""
    return summarize_found(*face_errors(items, repeat, motion, **options))


def summarize_found(found, missed):
    """summarize() of {label: errors} of the faces found."""
    return summarize(np.array(list(found.values())), missed)


def on_common(*found):
    """summarize() of each {label: errors} on the faces all of them found: systems compared on the same
    faces. Each alone is scored on the faces it found, so one that misses a hard face is spared
    its error there, and one that finds it pays."""
    common = sorted(set.intersection(*(set(f) for f in found)))
    return [summarize(np.array([f[k] for k in common]), []) for f in found]


def summarize(errors, missed):
    """Figures of the scaled errors of the faces found and the names of those missed."""
    n_total = len(errors) + len(missed)
    ok = ~np.isnan(errors)
    sq = np.where(ok, errors, 0.0) ** 2
    per_kp = np.sqrt(sq.sum(axis=(0, 2)) / ok.sum(axis=(0, 2)))
    return {"faces": n_total, "found": int(len(errors)), "missed": len(missed),
            "missed_share": round(len(missed) / max(n_total, 1), 4),
            "kaggle_rmse": round(float(np.sqrt(sq.sum() / ok.sum())), 4),
            # signed mean over all points: a pixel-convention slip shows here, not in the RMSE alone
            "mean_error_kaggle": [round(float(np.nanmean(errors[..., a])), 3) for a in (0, 1)],
            "per_keypoint_kaggle_rmse": {n: round(float(v), 3) for n, v in zip(NAMES, per_kp)}}


def montage(found, errors, path, n=16, tile=192):
    """The worst faces: truth in green, prediction in red, around the true face."""
    per_face = np.sqrt(np.nanmean(errors ** 2, axis=(1, 2)))
    tiles = []
    for i in np.argsort(-per_face)[:n]:
        name, frame, truth, pred = found[i][:4]
        c = truth.mean(axis=0)
        side = 2.6 * np.linalg.norm(truth[0] - truth[1]) + 1
        s = tile / side
        m = np.array([[s, 0, tile / 2 - s * c[0]], [0, s, tile / 2 - s * c[1]]])
        t = cv2.warpAffine(frame, m, (tile, tile), borderValue=(40, 40, 40))
        for pts, color in ((truth, (0, 220, 0)), (pred, (0, 0, 255))):
            for x, y in pts @ m[:, :2].T + m[:, 2]:
                cv2.circle(t, (int(round(x)), int(round(y))), 2, color, -1, cv2.LINE_AA)
        cv2.putText(t, f"{per_face[i]:.1f}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        tiles.append(t)
    while len(tiles) % 4:
        tiles.append(np.zeros((tile, tile, 3), np.uint8))
    if tiles:
        cv2.imwrite(path, np.vstack([np.hstack(tiles[r:r + 4]) for r in range(0, len(tiles), 4)]))


def rank_correlation(a, b):
    """Spearman's rank correlation of two 1-D arrays (ties ranked by order; the values are continuous)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def confidence_figures(errors, found, share=0.1):
    """How well the faces' uncertainty (fkd.confidence) ranks their actual error: the rank correlation
    per point and per face, and the RMSE of the least confident `share` of faces against the rest."""
    have = [i for i, f in enumerate(found) if f[4].uncertainty is not None]
    if len(have) < 10:
        return None
    err = errors[have]
    point_err = np.linalg.norm(err, axis=2)                      # (n, 15) Kaggle-scale px
    point_u = np.array([found[i][4].uncertainty for i in have])
    face_err = np.sqrt(np.nanmean(err ** 2, axis=(1, 2)))
    conf = np.array([found[i][4].confidence for i in have])
    ok = ~np.isnan(point_err)
    low = np.argsort(conf)[:max(1, round(share * len(conf)))]
    rest = np.setdiff1d(np.arange(len(conf)), low)
    rmse = lambda idx: float(np.sqrt(np.nanmean(err[idx] ** 2)))
    return {"faces": len(have), "point_rank_correlation": round(rank_correlation(point_u[ok], point_err[ok]), 3),
            "face_rank_correlation": round(rank_correlation(-conf, face_err), 3),
            "least_confident_share": share, "least_confident_rmse": round(rmse(low), 3),
            "rest_rmse": round(rmse(rest), 3), "median_uncertainty": round(float(np.median(point_u)), 3),
            "median_point_error": round(float(np.nanmedian(point_err)), 3),
            **turned_figures(errors, found)}


def turned_figures(errors, found):
    """The faces whose pose says they are turned further than the models were trained for, and their RMSE
    against the others'."""
    turned = np.array([f[4].pose is not None and f[4].pose.turned for f in found])
    rmse = lambda m: round(float(np.sqrt(np.nanmean(errors[m] ** 2))), 3) if m.any() else None
    return {"turned_faces": int(turned.sum()), "turned_rmse": rmse(turned), "not_turned_rmse": rmse(~turned)}


def selected_persons(models_dir, which):
    """Persons the models held out (or trained on), as recorded in their manifest."""
    if which == "all":
        return None
    m = load_manifest(models_dir)
    val = set()
    for sub in m["subsets"].values():
        split = sub.get("trained", {}).get("data", {}).get("split", {})
        val |= set(split.get("val_persons") or [])
    if not val:
        raise ModelError(f"{models_dir}: the manifest records no validation persons: use --persons all")
    return val if which == "val" else ("not", val)


def items_of(data_path, models_dir, persons):
    """`frames_of()` items of the persons that `selected_persons()` names (all of a Kaggle CSV)."""
    items = frames_of(data_path)
    keep = selected_persons(models_dir, persons) if os.path.isdir(data_path) else None
    if isinstance(keep, tuple):
        return (it for it in items if it[1] not in keep[1])
    if keep is not None:
        return (it for it in items if it[1] in keep)
    return items


@click.command("fkd-eval", cls=Command, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--data", "data_path", required=True, help="68-landmark folder or Kaggle CSV.")
@click.option("--models", "models_dir", default=default_models_dir)
@click.option("--persons", type=click.Choice(["val", "train", "all"]), default="val",
              help="Which persons of a 68-landmark folder: those the models held out, trained on, or all.")
@click.option("--detector", default="haar")
@click.option("--detector-model", default=None)
@click.option("--mode", type=click.Choice(["image", "video"]), default="image",
              help="image: detect every photo; video: track each photo as a still clip of --repeat frames.")
@click.option("--refine", type=click.IntRange(0), default=TrackerOptions.refine,
              help="Image mode: crops per face after the detector's (TrackerOptions.refine); 0 for one crop.")
@click.option("--repeat", default=10, help="Video mode: frames of each clip; the last is scored (all, with --motion).")
@click.option("--motion", is_flag=True,
              help="Video mode: each photo's clip turns, scales and moves (one cycle a second); every frame scored.")
@click.option("--shape-correction/--no-shape-correction", default=True,
              help="Apply the models' shape correction (tracker.shape), where they have one.")
@click.option("--descent-step/--no-descent-step", default=True,
              help="Apply the models' descent step (tracker.descent), where they have one.")
@click.option("--doubt", type=float, default=TrackerOptions.doubt,
              help="Video mode: stray (eye distances) that has the detector look again (TrackerOptions.doubt); inf: never.")
@click.option("--infer-every", type=click.IntRange(1), default=TrackerOptions.infer_every,
              help="Video mode: the models answer every Nth frame, optical flow between (TrackerOptions.infer_every).")
@click.option("--hold", type=float, default=TrackerOptions.hold,
              help="Video mode: how far a face moves before its crop follows (TrackerOptions.hold).")
@click.option("--min-confidence", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              help="Drop faces whose confidence is under this (TrackerOptions.min_confidence).")
@click.option("--limit", type=int, default=None, help="Only the first N faces (after the person filter).")
@click.option("--every", type=click.IntRange(1), default=1, help="Only every Nth face (after the person filter).")
@click.option("--scale", type=click.FloatRange(0.1, 4), default=1.0,
              help="Photos shown at this size: at 0.5 the training persons' answers are more like new faces' "
                   "(tracker knobs are chosen there, not on the held-out persons).")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write the figures as JSON.")
@click.option("--montage", "montage_path", type=click.Path(dir_okay=False), default=None,
              help="PNG of the worst faces, truth green, prediction red.")
def main(data_path, models_dir, persons, detector, detector_model, mode, refine, repeat, motion, shape_correction,
         descent_step, doubt, infer_every, hold, min_confidence, limit, every, scale, report, montage_path):
    try:
        if not os.path.exists(data_path):
            raise click.ClickException(f"{data_path}: no such file or folder")
        if mode == "video" and repeat < 1:
            raise click.ClickException("--repeat must be at least 1")
        if motion and mode != "video":
            raise click.ClickException("--motion needs --mode video")
        opts = TrackerOptions(models_dir=models_dir, mode=mode, detector=detector, max_faces=8, refine=refine,
                              shape_correction=shape_correction, descent_step=descent_step, doubt=doubt, hold=hold,
                              infer_every=infer_every,
                              min_confidence=min_confidence,
                              detector_options={"model_path": detector_model} if detector == "mediapipe" else {})
        items = items_of(data_path, models_dir, persons)
        if limit:
            items = (it for i, it in zip(range(limit), items))
        items = [resized(it, scale) for it in list(items)[::every]]
        with FaceTracker(opts) as tracker:
            errors, found, missed, secs = evaluate(tracker, items, repeat=repeat if mode == "video" else 1,
                                                   motion=motion, keep_frames=montage_path is not None)
    except FkdError as e:
        raise click.ClickException(str(e)) from None
    if not len(errors):
        raise click.ClickException("no face was found")
    res = summarize(errors, missed)
    res.update({"data": os.path.abspath(data_path), "persons": persons, "detector": detector, "mode": mode,
                "refine": refine if mode == "image" else 0, "shape_correction": shape_correction,
                "descent_step": descent_step, "doubt": doubt, "hold": hold,
                "infer_every": infer_every if mode == "video" else 1, "every": every, "scale": scale,
                "repeat": repeat if mode == "video" else 1, "motion": motion,
                "models": os.path.abspath(models_dir), "ms_per_frame": round(1000 * secs / len(items), 2)})
    how = ""
    if mode == "video":
        how = f", each frame of {len(items)} moving clips of {repeat}" if motion else f", tracked over {repeat} still frames"
    click.echo(f"{res['faces']} faces ({persons} persons{how}): Kaggle-scale RMSE {res['kaggle_rmse']:.3f}, "
               f"missed {res['missed']} ({100 * res['missed_share']:.1f} %), {res['ms_per_frame']} ms/frame")
    click.echo("  mean error (x, y): {:+.3f}, {:+.3f}".format(*res["mean_error_kaggle"]))
    for n, v in res["per_keypoint_kaggle_rmse"].items():
        click.echo(f"  {n:26s} {v:6.3f}")
    conf = confidence_figures(errors, found)
    if conf:
        res["confidence"] = conf
        click.echo(f"  confidence: rank correlation with the error {conf['point_rank_correlation']:.3f} per point, "
                   f"{conf['face_rank_correlation']:.3f} per face; least confident {100 * conf['least_confident_share']:.0f} % "
                   f"of faces {conf['least_confident_rmse']:.3f} against {conf['rest_rmse']:.3f} for the rest")
        click.echo(f"  turned further than trained for (pose): {conf['turned_faces']} faces, RMSE {conf['turned_rmse']} "
                   f"against {conf['not_turned_rmse']} for the rest")
    if report:
        with open(report, "w") as f:
            json.dump(res, f, indent=2)
    if montage_path:
        montage(found, errors, montage_path)


if __name__ == "__main__":
    main()
