"""A Kaggle submission from the exported ensembles of both subsets.

    python -m fkd.train.submit --test test.csv --lookup IdLookupTable.csv --out submission.csv

Kaggle's test images are already 96x96 face crops, so they go to the models as they are.
"""

import argparse
import csv
import sys

import numpy as np

from ..ensemble import Keypoints15
from ..facetracker import default_models_dir
from ..keypoints import INDEX
from ..errors import DataError, ModelError
from .data import load_kaggle_csv


def predictions(models_dir, test_csv):
    ds = load_kaggle_csv(test_csv)
    pts = Keypoints15(models_dir)(ds.images)
    return {image_id: p for image_id, p in zip(ds.names, pts)}


def write_submission(preds, lookup_csv, out_csv):
    with open(lookup_csv, newline="") as f, open(out_csv, "w", newline="") as g:
        w = csv.writer(g)
        w.writerow(["RowId", "Location"])
        for row in csv.DictReader(f):
            name, axis = row["FeatureName"].rsplit("_", 1)
            p = preds[row["ImageId"]][INDEX[name], 0 if axis == "x" else 1]
            w.writerow([row["RowId"], f"{float(np.clip(p, 0.0, 96.0)):.4f}"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", required=True)
    ap.add_argument("--lookup", required=True)
    ap.add_argument("--out", default="submission.csv")
    ap.add_argument("--models", default=default_models_dir())
    a = ap.parse_args(argv)
    try:
        write_submission(predictions(a.models, a.test), a.lookup, a.out)
    except (DataError, ModelError, OSError, KeyError) as e:
        sys.exit(f"submit: error: {e}")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
