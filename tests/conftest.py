import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fkd import default_models_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
SHIPPED = default_models_dir()


def need_shared(sub=""):
    """The path under ../shared, or a skip (a failure where FKD_REQUIRE_SHARED=1)."""
    path = os.path.join(SHARED, sub)
    if not os.path.exists(path):
        msg = f"{path} is absent (the project's shared real data)"
        if os.environ.get("FKD_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " and FKD_REQUIRE_SHARED=1")
        pytest.skip(msg)
    return path


def demo_kaggle_csv(path, n=48, seed=0):
    """A Kaggle-format CSV of real-face crops: demo frames cut with the tracker's crop rule."""
    from fkd.crop import CropRule, crop, to_crop
    from fkd.demo import frames
    from fkd.train.data import Dataset, write_kaggle_csv

    rule = CropRule()
    rng = np.random.default_rng(seed)
    imgs, kps = [], []
    for frame, kp in frames(n, (320, 240)):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        box = rule.box_from_keypoints(kp) + np.r_[rng.normal(0, 3, 2), 0, 0]
        c, m = crop(gray, box, rule)
        imgs.append(c)
        kps.append(to_crop(kp, m))
    kps = np.array(kps, np.float32)
    kps[::3, 2:4] = np.nan   # some rows miss some of the 11pts labels, as in Kaggle
    write_kaggle_csv(Dataset(np.stack(imgs), kps), path)
    return path


def fkd_train(*args, check=True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([sys.executable, "-m", "fkd.train.cli", *args], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    if check and r.returncode != 0:
        raise AssertionError(f"fkd-train {' '.join(args)} failed:\n{r.stdout}\n{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Both subsets trained for 2 epochs on generated data and exported: the whole fkd-train path."""
    d = tmp_path_factory.mktemp("tiny")
    csv_path = demo_kaggle_csv(str(d / "train.csv"))
    out = d / "models"
    for subset in ("4pts", "11pts"):
        fkd_train("--subset", subset, "--data", csv_path, "--out", str(out), "--workdir", str(d / "runs"),
                  "--members", "2", "--epochs", "2", "--batch-size", "16", "--dense", "64", "--quiet")
    return str(out), str(d)


@pytest.fixture(scope="session")
def shipped_models():
    if not os.path.isfile(os.path.join(SHIPPED, "manifest.json")):
        pytest.fail("models/manifest.json is missing: the shipped models are part of the product")
    return SHIPPED
