"""fkd-train end to end on generated data: train, resume, select, export, manifest."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, demo_kaggle_csv, fkd_train
from fkd.keypoints import SUBSETS
from fkd.manifest import load_manifest

tf = pytest.importorskip("tensorflow")


def test_masked_loss_ignores_missing_labels():
    from fkd.train.model import masked_mse

    y_true = np.array([[0.0, np.nan, 1.0, np.nan]], np.float32)
    a = np.array([[0.5, 100.0, 1.0, -7.0]], np.float32)
    b = np.array([[0.5, -3.0, 1.0, 42.0]], np.float32)
    la, lb = float(masked_mse(y_true, a)), float(masked_mse(y_true, b))
    assert la == pytest.approx(0.125) and lb == pytest.approx(la)
    x = tf.Variable(a)
    with tf.GradientTape() as tape:
        loss = masked_mse(y_true, x)
    g = tape.gradient(loss, x).numpy()
    assert g[0, 1] == 0 and g[0, 3] == 0 and g[0, 0] != 0


def test_both_subsets_export_a_valid_manifest(tiny_models):
    out, _ = tiny_models
    m = load_manifest(out)
    assert set(m["subsets"]) == {"4pts", "11pts"}
    for name, sub in m["subsets"].items():
        assert sub["keypoints"] == list(SUBSETS[name])
        assert os.path.isfile(os.path.join(out, sub["ensemble"]["file"]))
        sel = sub["trained"]["selection"]
        assert sel["selected"] and sel["best_single_val_rmse_px"] > 0
        for mem in sub["members"]:
            assert mem["quantization"] in ("int8", "float16")
            assert os.path.isfile(os.path.join(out, mem["file"]))
    assert m["subsets"]["11pts"]["trained"]["settings"]["batch_size"] == 16


def test_tflite_agrees_with_keras(tiny_models, tmp_path):
    """int8 and float16 members, and the fused graph, against the Keras model they came from."""
    import keras

    from fkd.train.export import convert, fused
    from fkd.train.fit import to_pixels
    from fkd.train.model import masked_mse
    from fkd.ensemble import Runner

    _, work = tiny_models
    state = json.load(open(os.path.join(work, "runs", "4pts", "seed0", "state.json")))
    model = keras.models.load_model(os.path.join(work, "runs", "4pts", "seed0", state["checkpoint"]),
                                    custom_objects={"masked_mse": masked_mse})
    from fkd.train.data import load_kaggle_csv

    crops = load_kaggle_csv(os.path.join(work, "train.csv")).images
    want = to_pixels(model.predict(crops[..., None] / 255.0, verbose=0))
    spread = want.max() - want.min()
    # stated tolerances: float32 exact to 0.01 px, float16 to 0.25 px, int8 to 2% of the output range
    for q, tol in (("float32", 0.01), ("float16", 0.25), ("int8", 0.02 * spread)):
        path = tmp_path / f"m-{q}.tflite"
        path.write_bytes(convert(model, q, crops))
        got = Runner(str(path)).predict(crops)
        assert np.abs(got - want).max() < tol, q
    # fused = members averaged one by one
    path = tmp_path / "fused.tflite"
    path.write_bytes(convert(fused([model, model], "f"), "float32"))
    assert np.abs(Runner(str(path)).predict(crops) - want).max() < 0.01
    # flip test-time augmentation inside the graph = mirrored crop, answer mirrored back, averaged
    from fkd.keypoints import SUBSETS, flip_permutation

    mirrored = to_pixels(model.predict(crops[:, :, ::-1, None] / 255.0, verbose=0))
    mirrored = mirrored[:, flip_permutation(SUBSETS["4pts"])]
    mirrored[..., 0] = 95 - mirrored[..., 0]
    path.write_bytes(convert(fused([model], "f", mirror="all"), "float32"))
    assert np.abs(Runner(str(path)).predict(crops) - (want + mirrored) / 2).max() < 0.01
    # alternate: the second member sees the mirrored crop instead
    path.write_bytes(convert(fused([model, model], "f", mirror="alternate"), "float32"))
    assert np.abs(Runner(str(path)).predict(crops) - (want + mirrored) / 2).max() < 0.01


def test_fused_ensemble_matches_members_one_by_one(tiny_models):
    from fkd.ensemble import Keypoints15

    from fkd.train.data import load_kaggle_csv

    out, work = tiny_models
    crops = load_kaggle_csv(os.path.join(work, "train.csv")).images
    a, b = Keypoints15(out, fused=True)(crops), Keypoints15(out, fused=False)(crops)
    # int8 rounding of one graph against several: within 2 % of the output range, but for a few of the
    # coordinates of a model trained two epochs (a new crop rule's data moved its largest difference
    # from 0.8 % to 2.2 %, the 99th percentile from 0.6 % to 0.7 %)
    diff = np.abs(a - b) / (b.max() - b.min())
    assert np.percentile(diff, 99) < 0.02 and diff.mean() < 0.005 and diff.max() < 0.05


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    csv_path = demo_kaggle_csv(str(tmp_path / "d.csv"), n=24)
    args = [sys.executable, "-m", "fkd.train.cli", "--subset", "4pts", "--data", csv_path, "--out",
            str(tmp_path / "m"), "--workdir", str(tmp_path / "w"), "--members", "1", "--epochs", "12",
            "--batch-size", "8", "--dense", "32", "--ema", "0.9", "--rotation", "5", "--quiet"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    state_path = tmp_path / "w" / "4pts" / "seed0" / "state.json"
    p = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        if state_path.exists() and json.loads(state_path.read_text())["epoch"] >= 2:
            break
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = json.loads(state_path.read_text())["epoch"]
    assert 2 <= killed_at < 12
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)   # the same command again
    assert r.returncode == 0, r.stderr[-2000:]
    state = json.loads(state_path.read_text())
    epochs = [h["epoch"] for h in state["history"]]
    assert epochs == list(range(1, 13))   # continued, not restarted
    assert state["settings"]["augment"]["rotation_deg"] == 5   # the augmentation is one of the kept settings
    # --ema: epochs are scored with the averaged weights, and the raw weights' best is recorded beside them
    raw = [h["raw_val_rmse_px"] for h in state["history"]]
    assert any(h["val_rmse_px"] != h["raw_val_rmse_px"] for h in state["history"])
    sel = load_manifest(str(tmp_path / "m"))["subsets"]["4pts"]["trained"]["selection"]
    assert sel["members_raw_weights_val_rmse_px"]["seed0"] == round(min(raw), 4)
    # a finished member keeps the settings it was trained with (its schedule ended at epoch 12)
    args[args.index("12")] = "20"
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "keeps the settings it was trained with" in r.stdout
    assert json.loads(state_path.read_text())["epoch"] == 12
    assert (tmp_path / "w" / "4pts" / "seed0" / "history.png").exists()


def test_bad_data_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("left_eye_center_x,Image\n1.0,1 2 3\n")
    r = fkd_train("--subset", "4pts", "--data", str(bad), check=False)
    assert r.returncode == 2
    assert "row 2" in r.stderr and "Traceback" not in r.stderr
    r = fkd_train("--subset", "4pts", "--data", str(tmp_path / "nope.csv"), check=False)
    assert r.returncode == 2 and "no such file" in r.stderr


def test_preview_and_csv_conversion(tmp_path):
    csv_path = demo_kaggle_csv(str(tmp_path / "d.csv"), n=8)
    fkd_train("--subset", "11pts", "--data", csv_path, "--preview-augment", str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 1000
    fkd_train("--subset", "4pts", "--data", csv_path, "--to-csv", str(tmp_path / "again.csv"))
    from fkd.train.data import load_kaggle_csv
    a, b = load_kaggle_csv(csv_path), load_kaggle_csv(str(tmp_path / "again.csv"))
    assert np.array_equal(a.images, b.images)
    assert np.allclose(a.keypoints, b.keypoints, atol=1e-3, equal_nan=True)


def test_member_starts_from_another_run(tiny_models, tmp_path):
    """--init-from: the other run's best weights and a fresh schedule; a misfit is a one-line error."""
    _, work = tiny_models
    src = os.path.join(work, "runs", "4pts", "seed0")
    common = ["--subset", "4pts", "--data", os.path.join(work, "train.csv"), "--workdir", str(tmp_path / "w"),
              "--out", str(tmp_path / "m"), "--members", "1", "--epochs", "1", "--batch-size", "16", "--quiet"]
    # the stages fitted on the answers of the members an export replaces go with them
    os.makedirs(tmp_path / "m")
    manifest = json.load(open(os.path.join(work, "models", "manifest.json")))
    stages = {"shape_correction": "shape-correction.npz", "descent_step": "descent-step.npz"}
    for key, name in stages.items():
        manifest[key] = {"file": name}
        (tmp_path / "m" / name).write_bytes(b"stale")
    json.dump(manifest, open(tmp_path / "m" / "manifest.json", "w"))
    fkd_train(*common, "--dense", "64", "--lr", "1e-9", "--init-from", src)
    assert not set(stages) & set(load_manifest(str(tmp_path / "m")))
    assert not any(os.path.exists(tmp_path / "m" / name) for name in stages.values())
    state = json.load(open(tmp_path / "w" / "4pts" / "seed0" / "state.json"))
    before = json.load(open(os.path.join(src, "state.json")))
    assert state["settings"]["init_from"] == os.path.abspath(src)
    assert state["settings"]["init_from_epochs"] == before["epoch"]
    sel = load_manifest(str(tmp_path / "m"))["subsets"]["4pts"]["trained"]["selection"]
    assert sel["members_start_val_rmse_px"]["seed0"] > 0   # what the fine-tuning bought, recorded
    # with a learning rate of ~0 the member keeps the kernels of the run it started from
    from fkd.train.model import build

    a, b = build(8, dense=64), build(8, dense=64)
    a.load_weights(os.path.join(src, "best.weights.h5"))
    b.load_weights(str(tmp_path / "w" / "4pts" / "seed0" / "best.weights.h5"))
    ka, kb = a.get_layer(index=1).get_weights()[0], b.get_layer(index=1).get_weights()[0]
    assert np.abs(ka - kb).max() < 1e-6 < np.abs(ka).max()
    r = fkd_train(*common, "--dense", "32", "--workdir", str(tmp_path / "w2"), "--init-from", src, check=False)
    assert r.returncode == 2 and "do not fit this member" in r.stderr and "Traceback" not in r.stderr


def one_line_error(r, *words):
    assert r.returncode == 2, r.stdout + r.stderr[-2000:]
    lines = [l for l in r.stderr.splitlines() if l.startswith("fkd-train:")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    for w in words:
        assert w in lines[0], lines[0]


def test_bad_options_and_data_are_one_line_errors(tmp_path):
    csv_path = demo_kaggle_csv(str(tmp_path / "d.csv"), n=8)
    common = ["--subset", "4pts", "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "m"), "--quiet"]
    one_line_error(fkd_train(*common, "--data", csv_path, "--epochs", "0", check=False), "--epochs")
    one_line_error(fkd_train(*common, "--data", csv_path, "--members", "0", check=False), "--members")
    import zipfile

    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        z.write(csv_path, "d.csv")
    one_line_error(fkd_train(*common, "--data", str(tmp_path / "d.zip"), check=False), "zip archive")
    (tmp_path / "b.csv").write_bytes(bytes(range(256)) * 8)
    one_line_error(fkd_train(*common, "--data", str(tmp_path / "b.csv"), check=False), "binary")
    header = open(csv_path).readline()
    (tmp_path / "h.csv").write_text(header)
    one_line_error(fkd_train(*common, "--data", str(tmp_path / "h.csv"), check=False), "no rows")
    rows = open(csv_path).read().splitlines()
    (tmp_path / "inf.csv").write_text("\n".join([rows[0], "inf" + rows[1][rows[1].index(","):]] + rows[2:]) + "\n")
    one_line_error(fkd_train(*common, "--data", str(tmp_path / "inf.csv"), check=False), "row 2", "infinite")


def test_a_diverging_member_stops_with_its_epoch(tmp_path):
    csv_path = demo_kaggle_csv(str(tmp_path / "d.csv"), n=16)
    r = fkd_train("--subset", "4pts", "--data", csv_path, "--workdir", str(tmp_path / "w"), "--out",
                  str(tmp_path / "m"), "--members", "1", "--epochs", "3", "--batch-size", "8", "--dense", "16",
                  "--lr", "1e30", "--lr-schedule", "constant", "--ema", "0", "--optimizer", "sgd", "--quiet", check=False)
    one_line_error(r, "seed0", "loss became", "epoch 1")
    assert not (tmp_path / "m" / "manifest.json").exists()


def test_a_damaged_run_folder_names_the_file_and_restart_or_resume_goes_on(tmp_path):
    csv_path = demo_kaggle_csv(str(tmp_path / "d.csv"), n=16)
    common = ["--subset", "4pts", "--data", csv_path, "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "m"),
              "--members", "1", "--batch-size", "8", "--dense", "16", "--quiet"]
    fkd_train(*common, "--epochs", "2")
    run = tmp_path / "w" / "4pts" / "seed0"
    state = json.loads((run / "state.json").read_text())
    r = fkd_train(*common, "--epochs", "2")   # finished: kept, and said so
    assert "seed0: already trained (2 epochs" in r.stdout
    (run / state["checkpoint"]).write_bytes(b"PK\x03\x04 not a whole archive")
    one_line_error(fkd_train(*common, "--epochs", "2", check=False), state["checkpoint"], "damaged", "--restart")
    (run / "state.json").write_text('{"epoch": 2, "sett')
    one_line_error(fkd_train(*common, "--epochs", "2", check=False), "state.json", "damaged", "--restart")
    r = fkd_train(*common, "--epochs", "2", "--restart")
    assert "starting over (--restart)" in r.stdout
    state = json.loads((run / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    state["epoch"], state["history"], state["stopped_early"] = 1, state["history"][:1], False
    (run / "state.json").write_text(json.dumps(state))   # as if killed after epoch 1 (its checkpoint is epoch 2's)
    assert "seed0: resuming after epoch 1 of 2" in fkd_train(*common, "--epochs", "2").stdout


def test_a_separable_student_learns_from_a_teacher(tiny_models, tmp_path):
    """--arch separable with --teacher: the teacher's fused ensemble is recorded and the student exports."""
    out, work = tiny_models
    csv_path = demo_kaggle_csv(str(tmp_path / "d.csv"), n=24)
    fkd_train("--subset", "4pts", "--data", csv_path, "--out", str(tmp_path / "m"), "--workdir", str(tmp_path / "w"),
              "--members", "1", "--epochs", "2", "--batch-size", "8", "--dense", "16", "--arch", "separable",
              "--kernel", "3", "--teacher", out, "--quiet")
    state = json.loads((tmp_path / "w" / "4pts" / "seed0" / "state.json").read_text())
    assert state["settings"]["arch"] == "separable" and state["settings"]["teacher"]["weight"] == 0.5
    assert state["settings"]["teacher"]["file"] == load_manifest(out)["subsets"]["4pts"]["ensemble"]["file"]
    assert load_manifest(str(tmp_path / "m"))["subsets"]["4pts"]["ensemble"]["members"] == 1
    from fkd.graph_cost import multiply_adds
    ops = multiply_adds(tmp_path / "m" / "4pts-m0-int8.tflite")
    assert 0 < ops < multiply_adds(os.path.join(out, "4pts-m0-int8.tflite"))
    r = fkd_train("--subset", "4pts", "--data", csv_path, "--workdir", str(tmp_path / "w2"), "--teacher",
                  str(tmp_path), check=False)
    assert r.returncode == 2 and "manifest" in r.stderr.lower() and "Traceback" not in r.stderr, r.stderr[-800:]


def test_a_kernel_split_by_svd_is_exact_at_full_rank():
    from fkd.train.factorize import split_kernel

    w = np.random.default_rng(0).normal(size=(5, 5, 3, 4)).astype(np.float32)
    v, h = split_kernel(w, 15)   # rank of the (5 x 3, 5 x 4) matrix
    assert v.shape == (5, 1, 3, 15) and h.shape == (1, 5, 15, 4)
    assert np.abs(np.einsum("ycr,xrn->yxcn", v[:, 0], h[0]) - w).max() < 1e-5
    v, h = split_kernel(w, 4)
    assert 1e-2 < np.abs(np.einsum("ycr,xrn->yxcn", v[:, 0], h[0]) - w).max()


def test_a_factorized_member_starts_from_a_tflite_member(tiny_models, tmp_path):
    """A member's int8 file read back into Keras answers as the file does: as a seed network, and as a
    factorized one at full rank; --init-from FILE fine-tunes a low-rank one, which costs fewer multiply-adds."""
    from fkd.ensemble import Runner
    from fkd.graph_cost import multiply_adds
    from fkd.train.factorize import load_tflite_member
    from fkd.train.fit import predict_px
    from fkd.train.model import build

    out, work = tiny_models
    path = os.path.join(out, "4pts-m0-int8.tflite")
    from fkd.train.data import load_kaggle_csv

    crops = load_kaggle_csv(os.path.join(work, "train.csv")).images   # the crops it was trained on: within its int8 range
    want = Runner(path).predict(crops)
    seed, full = build(8, dense=64), build(8, dense=64, arch="factorized", ranks=(5, 120, 180, 240))
    for model in (seed, full):
        load_tflite_member(model, path, crops)
    got_seed, got_full = predict_px(seed, crops), predict_px(full, crops)
    assert np.abs(got_seed - got_full).max() < 1e-2
    spread = np.sqrt(np.mean((want - want.mean(0)) ** 2))
    assert np.sqrt(np.mean((got_seed - want) ** 2)) < 0.1 * spread, (np.sqrt(np.mean((got_seed - want) ** 2)), spread)
    csv_path = os.path.join(work, "train.csv")
    fkd_train("--subset", "4pts", "--data", csv_path, "--out", str(tmp_path / "m"), "--workdir", str(tmp_path / "w"),
              "--members", "1", "--epochs", "1", "--batch-size", "16", "--dense", "64", "--arch", "factorized",
              "--ranks", "5,8,8,8", "--init-from", path, "--quiet")
    state = json.loads((tmp_path / "w" / "4pts" / "seed0" / "state.json").read_text())
    assert state["settings"]["init_from"] == os.path.abspath(path) and state["settings"]["ranks"] == [5, 8, 8, 8]
    assert state["settings"]["init_from_val_rmse_px"] == load_manifest(out)["subsets"]["4pts"]["members"][0]["val_rmse_px"]
    assert state["start_val_rmse_px"] > 0
    assert multiply_adds(tmp_path / "m" / "4pts-m0-int8.tflite") < multiply_adds(path) / 3
    r = fkd_train("--subset", "4pts", "--data", csv_path, "--workdir", str(tmp_path / "w2"), "--dense", "64",
                  "--arch", "separable", "--init-from", path, "--quiet", check=False)
    one_line_error(r, "separable")
    r = fkd_train("--subset", "4pts", "--data", csv_path, "--workdir", str(tmp_path / "w3"), "--arch", "factorized",
                  "--ranks", "5,8", "--quiet", check=False)
    one_line_error(r, "--ranks")
