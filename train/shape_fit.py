"""Fit a models folder's stages after the CNNs on its training persons' answers: the shape correction
(tracker.shape), then the descent step (tracker.descent).

    python -m fkd.train.shape_fit --data ../shared/data/youtube-faces-68 --models models

Runs the image-mode pipeline, both stages off, on every photo of the persons the models trained on
(never those they held out), at full size and again shrunk to half (`--scales`): the CNNs' answers
for faces they trained on are better than for new faces, and a smaller copy of the face gives answers
more like those. It picks the correction's principal components and ridge by cross-validation over
those persons (five folds, a person's photos in one fold, scored on the full-size answers), then the
descent step's window and ridge on the same folds, starting from the correction's held-out answers.
It writes MODELS/shape-correction.npz, MODELS/descent-step.npz and their manifest entries; it refuses
the correction, and leaves out the descent step, where the held-out folds score worse with them. A
new export of either subset removes both: they belong to the members whose answers they were fitted on."""

import datetime
import os

import click
import cv2
import numpy as np

from ..commands import Command
from ..errors import FkdError
from ..facetracker import FaceTracker, TrackerOptions, default_models_dir
from ..manifest import MANIFEST, drop_stage, load_manifest, write_json
from ..descent import DescentStep
from ..shape import ShapeCorrection

from .evaluate import evaluate, items_of, kaggle_errors, resized

FILE = "shape-correction.npz"
COMPONENTS = (4, 8, 12, 16)
RIDGES = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
DESCENT_FILE = "descent-step.npz"
WINDOWS = (16, 24, 32)        # px of the upright frame (36 px between the eyes): 2x2 to 4x4 HOG cells
DESCENT_RIDGES = (3.0, 10.0, 30.0, 100.0)
FOLDS = 5


def kaggle_rmse(points, truth):
    return float(np.sqrt(np.mean(kaggle_errors(points, truth) ** 2)))


def folds(persons):
    """Fold number of each answer: a person's answers all in one fold."""
    order = {p: i % FOLDS for i, p in enumerate(sorted(set(persons)))}
    return np.array([order[p] for p in persons])


def cross_validate_correction(pred, truth, fold):
    """{(components, ridge): the held-out folds' corrected answers}."""
    outs = {}
    for k in COMPONENTS:
        for r in RIDGES:
            out = np.empty_like(pred)
            for f in range(FOLDS):
                held = fold == f
                out[held] = ShapeCorrection.fit(pred[~held], truth[~held], k, r)(pred[held])
            outs[(k, r)] = out
    return outs


def descent_inputs(window, grays, points, truth):
    """Features, upright maps and targets of a descent step with this window, at these points."""
    probe = DescentStep(window, None, None)
    feats, maps, targets = [], [], []
    for g, p, t in zip(grays, points, truth):
        f, m = probe.features(g, p)
        feats.append(f)
        maps.append(m)
        targets.append(probe.target(p, t, m))
    return np.array(feats), maps, np.array(targets)


def cross_validate_descent(inputs, points, fold):
    """{(window, ridge): the held-out folds' answers after the step}."""
    outs = {}
    for window, (feats, maps, targets) in inputs.items():
        for r in DESCENT_RIDGES:
            out = np.empty_like(points)
            for f in range(FOLDS):
                held = np.flatnonzero(fold == f)
                train = fold != f
                step = DescentStep.fit(window, feats[train], targets[train], r)
                for i in held:
                    out[i] = step.update(points[i], feats[i], maps[i])
            outs[(window, r)] = out
    return outs


@click.command("python -m fkd.train.shape_fit", cls=Command, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--data", "data_path", required=True, help="The 68-landmark folder the models trained on.")
@click.option("--models", "models_dir", default=default_models_dir)
@click.option("--scales", default="1,0.5", help="Sizes at which each photo is shown, the first scored in the "
              "cross-validation.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N photos (for a quick check).")
def main(data_path, models_dir, scales, limit):
    try:
        sizes = [float(v) for v in scales.split(",")]
    except ValueError:
        sizes = []
    if not sizes or not all(0 < v <= 4 for v in sizes):
        raise click.ClickException(f"--scales {scales}: give sizes between 0 and 4, such as 1,0.5")
    scales = sizes
    if not os.path.isdir(data_path):
        raise click.ClickException(f"{data_path}: not a 68-landmark folder (images/ and landmarks.csv)")
    try:
        load_manifest(models_dir)
        items = list(items_of(data_path, models_dir, "train"))[:limit]
        found = []
        with FaceTracker(TrackerOptions(models_dir=models_dir, mode="image", max_faces=8,
                                        shape_correction=False, descent_step=False)) as tracker:
            for i, s in enumerate(scales):
                found += [(i, *f) for f in evaluate(tracker, (resized(it, s) for it in items))[1]]
    except FkdError as e:
        raise click.ClickException(str(e)) from None
    if len(found) < 10 * FOLDS:
        raise click.ClickException(f"only {len(found)} faces found among the training persons: too few to fit")
    person = {name: p for name, p, _, _ in items}
    scored = np.array([f[0] == 0 for f in found])
    truth = np.array([f[3] for f in found], dtype=np.float64)
    pred = np.array([f[4] for f in found], dtype=np.float64)
    fold = folds([person[f[1]] for f in found])
    outs = cross_validate_correction(pred, truth, fold)
    scores = {key: kaggle_rmse(out[scored], truth[scored]) for key, out in outs.items()}
    (k, r), after = min(scores.items(), key=lambda kv: kv[1])
    before = kaggle_rmse(pred[scored], truth[scored])
    if after >= before:
        raise click.ClickException(f"on held-out folds the correction scores {after:.3f} against {before:.3f} "
                                   f"without: too few faces ({scored.sum()}) to fit it; nothing written")
    ShapeCorrection.fit(pred, truth, k, r).save(os.path.join(models_dir, FILE))

    # the descent step starts where the tracker will start it: from answers corrected by a correction
    # that did not see them (the held-out folds' corrected answers)
    corrected = outs[(k, r)]
    grays = [cv2.cvtColor(f[2], cv2.COLOR_BGR2GRAY) if f[2].ndim == 3 else f[2] for f in found]
    inputs = {w: descent_inputs(w, grays, corrected, truth) for w in WINDOWS}
    moved = cross_validate_descent(inputs, corrected, fold)
    step_scores = {key: kaggle_rmse(out[scored], truth[scored]) for key, out in moved.items()}
    (window, step_ridge), stepped = min(step_scores.items(), key=lambda kv: kv[1])

    manifest = load_manifest(models_dir)
    if stepped < after:
        feats, _, targets = inputs[window]
        DescentStep.fit(window, feats, targets, step_ridge).save(os.path.join(models_dir, DESCENT_FILE))
        manifest["descent_step"] = {
            "file": DESCENT_FILE, "window": window, "ridge": step_ridge,
            "cross_validated_kaggle_rmse": {"folds": FOLDS, "before": round(after, 4), "after": round(stepped, 4)},
        }
    else:
        drop_stage(models_dir, manifest, "descent_step")
    manifest["shape_correction"] = {
        "file": FILE, "components": k, "ridge": r,
        "fitted_on": {"data": os.path.abspath(data_path), "persons": "train", "faces": int(scored.sum()),
                      "scales": scales, "answers": len(found), "pipeline": "image mode, default refine"},
        "cross_validated_kaggle_rmse": {"folds": FOLDS, "before": round(before, 4), "after": round(after, 4)},
        "fitted": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(os.path.join(models_dir, MANIFEST), manifest)
    click.echo(f"{scored.sum()} faces of the training persons: Kaggle-scale RMSE {before:.3f} as answered, "
               f"{after:.3f} corrected (held-out folds; {k} components, ridge {r})")
    if "descent_step" in manifest:
        click.echo(f"then the descent step: {stepped:.3f} (held-out folds; {window}-px windows, ridge {step_ridge})")
    else:
        click.echo(f"no descent step: on held-out folds it scores {stepped:.3f}, no better")
    click.echo(f"wrote {models_dir}: {', '.join(e['file'] for e in (manifest['shape_correction'], manifest.get('descent_step')) if e)} and the manifest")


if __name__ == "__main__":
    main()
