"""The shipped models: complete, and still accurate on real held-out faces (a change that breaks them cannot land)."""

import csv
import os

import numpy as np

from conftest import demo_kaggle_csv, need_shared
from fkd.keypoints import NAMES
from fkd.manifest import load_manifest
from fkd.train.evaluate import items_of, score

# Measured with `fkd-eval --data ../shared/data/youtube-faces-68` on all held-out persons (models/MODEL_CARD.md):
# 1.81, 0.4 % missed. The slice below, every 4th held-out frame, measures 1.70 with 2 of 122 missed, and
# 1.74 tracked over 10 still frames; every 8th, as moving clips of 30 frames, 1.85 with 6 of 1830 frames
# missed (`cd tests && python -m pytest -s test_shipped_models.py -k "accuracy or tracking"` prints all
# three); the bounds leave ~13 % room.
MAX_KAGGLE_RMSE = 1.92
MAX_TRACKED_KAGGLE_RMSE = 1.97
MAX_MOVING_KAGGLE_RMSE = 2.09
MAX_MISSED = 0.04
MAX_MEAN_ERROR = 0.75


def test_manifest_and_files(shipped_models):
    m = load_manifest(shipped_models)
    assert set(m["subsets"]) == {"4pts", "11pts"}
    total = 0
    for sub in m["subsets"].values():
        for f in [sub["ensemble"]["file"]] + [x["file"] for x in sub["members"]]:
            total += os.path.getsize(os.path.join(shipped_models, f))
        assert sub["trained"]["data"]["split"]["by"] == "person"
    assert total < 20e6
    assert os.path.isfile(os.path.join(shipped_models, "MODEL_CARD.md"))


def test_mirrored_call_shows_each_member_the_other_view(shipped_models, tmp_path):
    """Image mode's second crop runs the fused graphs on the mirror: with the first, every member sees both views."""
    from fkd.ensemble import Keypoints15
    from fkd.train.data import load_kaggle_csv

    crops = load_kaggle_csv(demo_kaggle_csv(str(tmp_path / "d.csv"), n=16)).images
    fused = Keypoints15(shipped_models)
    plain, mirrored = fused(crops), fused(crops, mirrored=True)
    every_view = Keypoints15(shipped_models, fused=False, mirror="all")(crops)
    # int8 graphs against the members one by one: within 1 px (the views alone differ by several)
    assert np.abs((plain + mirrored) / 2 - every_view).max() < 1.0 < np.abs(plain - every_view).max()


def test_accuracy_on_held_out_persons(shipped_models):
    root = need_shared("data/youtube-faces-68")
    items = list(items_of(root, shipped_models, "val"))[::4]
    assert len(items) > 80
    res = score(items, models_dir=shipped_models, mode="image")
    print(f"slice: Kaggle-scale RMSE {res['kaggle_rmse']:.3f}, missed {res['missed']} of {res['faces']}")
    assert res["missed_share"] <= MAX_MISSED, res
    assert res["kaggle_rmse"] <= MAX_KAGGLE_RMSE, res
    # no systematic offset: labels read in the wrong pixel convention left one of about 1 px in x
    assert max(abs(v) for v in res["mean_error_kaggle"]) < MAX_MEAN_ERROR, res


def test_tracking_held_out_faces_stays_accurate(shipped_models):
    """Each held-out photo as a still clip: crops framed by the tracker's own points must not lose
    accuracy frame by frame (before a still face kept the detector's crop, the crop drifted: at commit be38616
    the held-out frames scored 2.242 on one crop and 2.370 after 10 frames)."""
    root = need_shared("data/youtube-faces-68")
    items = list(items_of(root, shipped_models, "val"))[::4]
    res = score(items, repeat=10, models_dir=shipped_models, mode="video")
    print(f"slice, tracked 10 still frames: Kaggle-scale RMSE {res['kaggle_rmse']:.3f}, "
          f"missed {res['missed']} of {res['faces']}")
    assert res["missed_share"] <= MAX_MISSED, res
    assert res["kaggle_rmse"] <= MAX_TRACKED_KAGGLE_RMSE, res


def test_tracking_moving_held_out_faces(shipped_models):
    """Each held-out photo as a moving clip (train.evaluate.moving_clip), every frame scored: the tracker
    must follow a turning, scaling, moving face without its crops falling behind or its smoothing lagging."""
    root = need_shared("data/youtube-faces-68")
    items = list(items_of(root, shipped_models, "val"))[::8]
    res = score(items, repeat=30, motion=True, models_dir=shipped_models, mode="video")
    print(f"slice, tracked moving clips of 30 frames: Kaggle-scale RMSE {res['kaggle_rmse']:.3f}, "
          f"missed {res['missed']} of {res['faces']}")
    assert res["missed_share"] <= MAX_MISSED, res
    assert res["kaggle_rmse"] <= MAX_MOVING_KAGGLE_RMSE, res


def test_kaggle_submission(shipped_models, tmp_path):
    from fkd.train.data import load_kaggle_csv
    from fkd.train.submit import main

    src = load_kaggle_csv(demo_kaggle_csv(str(tmp_path / "d.csv"), n=6))
    with open(tmp_path / "test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ImageId", "Image"])
        for i, img in enumerate(src.images, start=1):
            w.writerow([i, " ".join(map(str, img.reshape(-1)))])
    with open(tmp_path / "lookup.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["RowId", "ImageId", "FeatureName", "Location"])
        rows = [(i, n, a) for i in range(1, 7) for n in NAMES for a in "xy"]
        for rid, (i, n, a) in enumerate(rows, start=1):
            w.writerow([rid, i, f"{n}_{a}", ""])
    main(["--test", str(tmp_path / "test.csv"), "--lookup", str(tmp_path / "lookup.csv"),
          "--out", str(tmp_path / "sub.csv"), "--models", shipped_models])
    sub = list(csv.DictReader(open(tmp_path / "sub.csv")))
    assert len(sub) == len(rows) and sub[0]["RowId"] == "1"
    got = np.array([float(r["Location"]) for r in sub]).reshape(6, 15, 2)
    assert got.min() >= 0 and got.max() <= 96
    assert np.sqrt(np.nanmean((got - src.keypoints) ** 2)) < 6.0   # demo crops: a real face
