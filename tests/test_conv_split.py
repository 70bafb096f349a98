"""The int8 graphs' one-channel first convolutions split into an exact pair (fkd/train/conv_split.py)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from fkd.manifest import load_manifest

tf = pytest.importorskip("tensorflow")


def conv_split(*args):
    return subprocess.run([sys.executable, "-m", "fkd.train.conv_split", *args], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), cwd=ROOT)


def test_a_split_graph_answers_bit_for_bit_as_the_original(tiny_models, tmp_path):
    import keras

    from fkd.ensemble import Runner
    from fkd.train.conv_split import split_first_convs
    from fkd.train.data import load_kaggle_csv
    from fkd.train.export import convert, fused
    from fkd.train.factorize import tflite_layers
    from fkd.train.model import masked_mse

    _, work = tiny_models
    run = os.path.join(work, "runs", "4pts", "seed0")
    ckpt = sorted(f for f in os.listdir(run) if f.startswith("ckpt-"))[-1]
    model = keras.models.load_model(os.path.join(run, ckpt), custom_objects={"masked_mse": masked_mse})
    crops = load_kaggle_csv(os.path.join(work, "train.csv")).images
    for name, keras_model in (("member", model), ("fused", fused([model, model], "f", mirror="alternate"))):
        original = convert(keras_model, "int8", crops, split_convs=False)
        split, n = split_first_convs(original)
        assert n == (1 if name == "member" else 2)
        assert split_first_convs(split)[1] == 0   # nothing left to split
        (tmp_path / f"{name}-a.tflite").write_bytes(original)
        (tmp_path / f"{name}-b.tflite").write_bytes(split)
        a, b = Runner(str(tmp_path / f"{name}-a.tflite")), Runner(str(tmp_path / f"{name}-b.tflite"))
        assert np.array_equal(a.predict(crops), b.predict(crops)), name
        assert np.array_equal(a.predict(crops[:1]), b.predict(crops[:1])), name
    # a member read back for --init-from: the pair is the one convolution it came from
    a, b = tflite_layers(tmp_path / "member-a.tflite"), tflite_layers(tmp_path / "member-b.tflite")
    assert len(a) == len(b) and all(np.array_equal(wa, wb) and np.array_equal(ba, bb) for (wa, ba), (wb, bb) in zip(a, b))
    assert convert(model, "int8", crops) == (tmp_path / "member-b.tflite").read_bytes()   # what fkd-train exports


def test_shipped_int8_graphs_are_split(shipped_models, tmp_path):
    from fkd.train.conv_split import split_first_convs

    copy = tmp_path / "models"
    shutil.copytree(shipped_models, copy)
    for entry in load_manifest(str(copy))["subsets"].values():
        for item in [entry["ensemble"]] + entry["members"]:
            if item["quantization"] == "int8":
                assert split_first_convs((copy / item["file"]).read_bytes())[1] == 0, item["file"]
    before = (copy / "manifest.json").read_bytes()
    r = conv_split(str(copy))
    assert r.returncode == 0 and "0 convolution(s) split" in r.stdout, r.stderr
    assert (copy / "manifest.json").read_bytes() == before


def test_a_folder_without_a_manifest_is_a_one_line_error(tmp_path):
    r = conv_split(str(tmp_path))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "no manifest.json" in r.stderr, r.stderr
