"""Fit a models folder's shape correction (tracker.shape) on its training persons' answers.

    python -m train.shape_fit --data ../shared/data/youtube-faces-68 --models models

Runs the image-mode pipeline, correction off, on every photo of the persons the models trained on
(never those they held out), picks the number of principal components and the ridge by
cross-validation over those persons (five folds, a person's photos in one fold), fits on all of
them, and writes MODELS/shape-correction.npz and its entry in the manifest, unless the held-out
folds score worse corrected. A new export of either subset removes both: the correction belongs to
the members whose answers it was fitted on.
"""

import datetime
import os

import click
import numpy as np

from tracker.detectors import DetectorError
from tracker.facetracker import DEFAULT_MODELS, FaceTracker, TrackerOptions
from tracker.manifest import MANIFEST, ModelError, load_manifest, write_json
from tracker.shape import ShapeCorrection

from .evaluate import KAGGLE_IOD, evaluate, items_of

FILE = "shape-correction.npz"
COMPONENTS = (4, 8, 12)
RIDGES = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
FOLDS = 5


def kaggle_rmse(points, truth):
    iod = np.linalg.norm(truth[:, 0] - truth[:, 1], axis=1)
    return float(np.sqrt(np.mean(((points - truth) * (KAGGLE_IOD / iod)[:, None, None]) ** 2)))


def cross_validate(pred, truth, persons):
    """{(components, ridge): Kaggle-scale RMSE of the held-out folds' corrected answers}."""
    order = {p: i % FOLDS for i, p in enumerate(sorted(set(persons)))}
    fold = np.array([order[p] for p in persons])
    scores = {}
    for k in COMPONENTS:
        for r in RIDGES:
            out = np.empty_like(pred)
            for f in range(FOLDS):
                held = fold == f
                out[held] = ShapeCorrection.fit(pred[~held], truth[~held], k, r)(pred[held])
            scores[(k, r)] = kaggle_rmse(out, truth)
    return scores


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--data", "data_path", required=True, help="The 68-landmark folder the models trained on.")
@click.option("--models", "models_dir", default=DEFAULT_MODELS)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N photos (for a quick check).")
def main(data_path, models_dir, limit):
    if not os.path.isdir(data_path):
        raise click.ClickException(f"{data_path}: not a 68-landmark folder (images/ and landmarks.csv)")
    try:
        load_manifest(models_dir)
        items = list(items_of(data_path, models_dir, "train"))[:limit]
        with FaceTracker(TrackerOptions(models_dir=models_dir, mode="image", max_faces=8,
                                        shape_correction=False)) as tracker:
            _, found, _, _ = evaluate(tracker, items)
    except (ModelError, DetectorError) as e:
        raise click.ClickException(str(e)) from None
    if len(found) < 10 * FOLDS:
        raise click.ClickException(f"only {len(found)} faces found among the training persons: too few to fit")
    person = {name: p for name, p, _, _ in items}
    names = [f[0] for f in found]
    truth = np.array([f[2] for f in found], dtype=np.float64)
    pred = np.array([f[3] for f in found], dtype=np.float64)
    scores = cross_validate(pred, truth, [person[n] for n in names])
    (k, r), after = min(scores.items(), key=lambda kv: kv[1])
    before = kaggle_rmse(pred, truth)
    if after >= before:
        raise click.ClickException(f"on held-out folds the correction scores {after:.3f} against {before:.3f} "
                                   f"without: too few faces ({len(found)}) to fit it; nothing written")
    ShapeCorrection.fit(pred, truth, k, r).save(os.path.join(models_dir, FILE))
    manifest = load_manifest(models_dir)
    manifest["shape_correction"] = {
        "file": FILE, "components": k, "ridge": r,
        "fitted_on": {"data": os.path.abspath(data_path), "persons": "train", "faces": len(found),
                      "pipeline": "image mode, default refine"},
        "cross_validated_kaggle_rmse": {"folds": FOLDS, "before": round(before, 4), "after": round(after, 4)},
        "fitted": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(os.path.join(models_dir, MANIFEST), manifest)
    click.echo(f"{len(found)} faces of the training persons: Kaggle-scale RMSE {before:.3f} as answered, "
               f"{after:.3f} corrected (held-out folds; {k} components, ridge {r})")
    click.echo(f"wrote {os.path.join(models_dir, FILE)} and its manifest entry")


if __name__ == "__main__":
    main()
