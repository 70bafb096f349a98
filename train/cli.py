"""fkd-train: one subset's ensemble, trained, selected and exported to TFLite.

    fkd-train --subset 4pts --data training.csv
    fkd-train --subset 11pts --data ../shared/data/youtube-faces-68

Read top to bottom: load -> split -> train members -> select -> export.
"""

import json
import os
import time

import click
import numpy as np

from ..commands import Command, fail as fail_as
from ..crop import CropRule
from ..errors import FkdError
from ..manifest import MIRROR_MODES
from ..keypoints import SUBSETS, subset_indices
from .augment import AugmentConfig
from .architectures import ARCHITECTURES, RANKS


def fail(msg):
    fail_as("fkd-train", msg)


def parse_ints(option, text, n=None, low=1):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or (n is not None and len(values) != n) or min(values) < low:
        fail(f"{option} {text!r}: give {n or 'some'} whole numbers of at least {low}, comma-separated")
    return values


def select_members(preds, true):
    """Greedy forward selection: add the member that most lowers the averaged ensemble's RMSE."""
    from .fit import rmse

    chosen, best = [], float("inf")
    while True:
        trial = [(rmse(np.mean([preds[j] for j in chosen + [i]], axis=0), true), i)
                 for i in range(len(preds)) if i not in chosen]
        if not trial:
            break
        score, i = min(trial)
        if score >= best:
            break
        chosen.append(i)
        best = score
    return chosen, best


@click.command("fkd-train", cls=Command, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--subset", type=click.Choice(list(SUBSETS)), required=True)
@click.option("--data", "data_path", required=True,
              help="Kaggle training.csv, or a folder with images/ and landmarks.csv (68 points).")
@click.option("--out", "out_dir", default="models", help="Where the TFLite members and manifest.json go.")
@click.option("--workdir", default="runs", help="Checkpoints, histories and the data cache.")
@click.option("--members", type=click.IntRange(1), default=3, help="Members trained, each with its own seed.")
@click.option("--epochs", type=click.IntRange(1), default=60)
@click.option("--batch-size", type=click.IntRange(1), default=64, help="Small batches (more steps per epoch) trained better than 128 or 256.")
@click.option("--optimizer", type=click.Choice(["rmsprop", "adam", "sgd"]), default="rmsprop")
@click.option("--lr", default=1e-3)
@click.option("--lr-schedule", type=click.Choice(["cosine", "constant"]), default="cosine")
@click.option("--ema", default=0.995, help="Keep a moving average of the weights with this momentum per step "
              "and select epochs by it (the raw weights' validation error swings from epoch to epoch); "
              "0 switches it off.")
@click.option("--patience", type=click.IntRange(1), default=50, help="Early stopping: epochs without a better validation RMSE.")
@click.option("--arch", type=click.Choice(ARCHITECTURES), default="seed",
              help="seed: plain convolutions; separable: depthwise-separable blocks after the first; factorized: "
                   "k x 1 then 1 x k convolutions of --ranks (fkd/train/model.py).")
@click.option("--widths", default="24,36,48,64", help="Conv widths.")
@click.option("--ranks", default=",".join(map(str, RANKS)),
              help="--arch factorized: each convolution's rank (k x 1 then 1 x k through that many channels); 0 keeps it k x k.")
@click.option("--kernel", type=click.IntRange(1), default=5)
@click.option("--teacher", type=click.Path(exists=True, file_okay=False), default=None,
              help="A models folder (e.g. the shipped models, fkd.default_models_dir()): its fused ensemble of the "
                   "subset answers every augmented batch, and the members learn from its answers and the labels.")
@click.option("--teacher-weight", type=click.FloatRange(0, 1), default=0.5,
              help="The teacher's share of the target; the label's is the rest.")
@click.option("--dense", default=512)
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.15)
@click.option("--seed", default=0, help="Split seed; member i uses seed + i.")
@click.option("--init-from", multiple=True, type=click.Path(exists=True),
              help="A member's run folder (runs/SUBSET/seedN) or TFLite file (models/SUBSET-mN-int8.tflite, its "
                   "weights dequantized, factorized by SVD for --arch factorized); member i starts from the "
                   "i-th given and trains a fresh schedule on it. Repeatable.")
@click.option("--augment/--no-augment", default=True)
@click.option("--flip/--no-flip", default=True)
@click.option("--rotation", default=15.0, help="Degrees, +-.")
@click.option("--elastic", default=2.0, help="Elastic displacement, px.")
@click.option("--perspective", default=0.0015, help="Homography row-3 terms, +-; 0 switches it off.")
@click.option("--scale", "scale_jitter", default=0.10, help="Scale jitter, 1 +-; 0 switches it off.")
@click.option("--shift", default=6.0, help="Shift, px +-; 0 switches it off.")
@click.option("--contrast", default=0.35, help="Contrast gain, 1 +-; 0 switches it off.")
@click.option("--brightness", default=0.15, help="Brightness offset, +- of full range; 0 switches it off.")
@click.option("--tracker-crops/--detector-crops", default=True,
              help="68-landmark folder: each detected face twice, framed by the Haar box and by its keypoints "
                   "as the tracker frames it between detections; or by the Haar box alone (as --to-csv writes).")
@click.option("--skip-bad-rows", is_flag=True, help="Kaggle CSV: skip and count malformed rows.")
@click.option("--preview-augment", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG grid of augmented samples and exit.")
@click.option("--to-csv", type=click.Path(dir_okay=False), default=None,
              help="Write the data as a Kaggle-format CSV and exit.")
@click.option("--mirror", type=click.Choice(MIRROR_MODES), default="alternate",
              help="Which members see the mirrored crop in the fused graph: none; alternate (every second "
                   "member, no extra work); all (each member sees both: flip test-time augmentation, 2x the work).")
@click.option("--quantization", type=click.Choice(["auto", "int8", "float16"]), default="auto",
              help="Of the exported graphs. auto: int8 unless the fused int8 graph is more than 2 % worse than "
                   "float16 (which runs faster depends on the CPU: benchmarks/bench_architectures.py).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS|auto|local]",
              help="Train the members as Ray tasks over a cluster (pip install 'fkd[distributed]'); alone, a cluster "
                   "of this machine. --workdir must be a folder every node sees.")
@click.option("--cpus-per-member", type=click.FloatRange(0, min_open=True), default=1.0,
              help="With --ray: CPUs each member's task asks for (also its TensorFlow threads).")
@click.option("--gpus-per-member", type=click.FloatRange(0), default=0.0,
              help="With --ray: GPUs each member's task asks for; a fraction lets several members share one.")
@click.option("--restart", is_flag=True, help="Members whose run folder is damaged start over instead of resuming.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def main(subset, data_path, out_dir, workdir, members, epochs, batch_size, optimizer, lr, lr_schedule,
         patience, arch, widths, ranks, kernel, dense, teacher, teacher_weight, val_fraction, seed, augment, flip, rotation, elastic,
         perspective, scale_jitter, shift, contrast, brightness, tracker_crops, skip_bad_rows, preview_augment, to_csv, mirror, quiet,
         init_from, ema, quantization, restart, ray_address, cpus_per_member, gpus_per_member):
    from .data import load, split, write_kaggle_csv

    rule = CropRule()
    try:
        ds = load(data_path, rule, skip_bad=skip_bad_rows, cache_dir=os.path.join(workdir, "cache"),
                  tracker_crops=tracker_crops and not to_csv)
    except FkdError as e:
        fail(e)
    except OSError as e:
        fail(f"{data_path}: cannot be read ({e.strerror})")
    if to_csv:
        write_kaggle_csv(ds, to_csv)
        click.echo(f"wrote {len(ds)} rows to {to_csv}")
        return
    idx = subset_indices(subset)
    labelled = ~np.isnan(ds.keypoints[:, idx]).any(axis=(1, 2))
    ds = ds.take(np.flatnonzero(labelled))
    if len(ds) < 4:
        fail(f"{data_path}: only {len(ds)} images have all {subset} keypoints")
    kp = ds.keypoints[:, idx]
    cfg = AugmentConfig(flip=flip, rotation_deg=rotation, scale=scale_jitter, shift_px=shift,
                        perspective=perspective, elastic_px=elastic, contrast=contrast, brightness=brightness,
                        enabled=augment)
    if preview_augment:
        from .augment import preview
        preview(ds.images, kp, cfg, np.random.default_rng(seed), list(SUBSETS[subset]), preview_augment)
        click.echo(f"wrote {preview_augment}")
        return

    # heavy imports only once there is training to do
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .fit import init_from_settings, predict_px, rmse, train_member
    from .export import export_subset
    import tensorflow as tf
    import keras

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    tr, va, split_info = split(ds, val_fraction, seed)
    settings = {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer,
                "lr": lr, "lr_schedule": lr_schedule, "ema": ema, "patience": patience,
                "arch": arch, "widths": parse_ints("--widths", widths), "kernel": kernel, "dense": dense,
                "augment": cfg.to_dict()}
    if arch == "factorized":
        settings["ranks"] = parse_ints("--ranks", ranks, len(settings["widths"]), low=0)
    if teacher:
        try:
            from .fit import Teacher
            t = Teacher(os.path.abspath(teacher), subset, teacher_weight)
        except FkdError as e:
            fail(e)
        settings["teacher"] = {"models": os.path.abspath(teacher), "file": os.path.basename(t.path),
                               "val_rmse_px": t.val_rmse_px, "weight": teacher_weight}
    click.echo(f"{subset}: {len(tr)} training and {len(va)} validation images (split by {split_info['by']}) "
               f"from {ds.info['source']}; on {'GPU ' + gpus[0].name if gpus else 'CPU'}")
    run_root = os.path.join(workdir, subset)
    t0 = time.time()
    if len(init_from) > members:
        fail(f"--init-from given {len(init_from)} times for {members} member(s)")
    jobs = []   # (run folder, seed, settings) of each member
    for i in range(members):
        member = dict(settings)
        if i < len(init_from):
            try:
                member.update(init_from_settings(init_from[i], subset))
            except FkdError as e:
                fail(e)
        jobs.append((os.path.join(run_root, f"seed{seed + i}"), seed + i, member))
    if ray_address:
        from .distributed import train_on_ray
        try:
            train_on_ray(ray_address, jobs, subset, (ds.images[tr], kp[tr], ds.images[va], kp[va]),
                         cpus_per_member, gpus_per_member, restart=restart, show_progress=not quiet, say=click.echo)
        except FkdError as e:
            fail(e)
    models, preds, states = [], [], []
    for run_dir, member_seed, member in jobs:   # after --ray each member is trained: this loads it
        try:
            model, state = train_member(run_dir, subset, ds.images[tr], kp[tr], ds.images[va], kp[va], member_seed,
                                        member, show_progress=not quiet, restart=restart,
                                        say=click.echo if not ray_address else lambda msg: None)
        except FkdError as e:
            fail(e)
        if state["settings"] != member:
            click.echo(f"seed{member_seed}: resumed; it keeps the settings it was trained with: {state['settings']}")
        models.append(model)
        preds.append(predict_px(model, ds.images[va]))
        states.append(state)
    started = {f"seed{seed + i}": round(s["start_val_rmse_px"], 4) for i, s in enumerate(states)
               if "start_val_rmse_px" in s}   # members fine-tuned from another run
    raw_best = {f"seed{seed + i}": round(min(h["raw_val_rmse_px"] for h in s["history"]), 4)
                for i, s in enumerate(states) if s["settings"].get("ema")}   # what the averaging bought
    chosen, sel_rmse = select_members(preds, kp[va])
    singles = [rmse(p, kp[va]) for p in preds]
    report = {"best_single_val_rmse_px": round(min(singles), 4),
              "average_of_all_val_rmse_px": round(rmse(np.mean(preds, axis=0), kp[va]), 4),
              "selected": [f"seed{seed + i}" for i in chosen], "selected_val_rmse_px": round(sel_rmse, 4),
              "members_val_rmse_px": {f"seed{seed + i}": round(s, 4) for i, s in enumerate(singles)},
              "members_start_val_rmse_px": started, "members_raw_weights_val_rmse_px": raw_best}
    click.echo(json.dumps(report, indent=2))
    record = {"data": {**{k: v for k, v in ds.info.items()}, "images": len(ds), "train": len(tr),
                       "val": len(va), "split": split_info},
              "settings": settings, "selection": report,
              "epochs_run": {f"seed{seed + i}": s["epoch"] for i, s in enumerate(states)},
              "member_settings": {f"seed{seed + i}": s["settings"] for i, s in enumerate(states)},
              "device": gpus[0].name if gpus else "cpu", "train_time_s_this_call": round(time.time() - t0)}
    entry = export_subset(out_dir, subset, [models[i] for i in chosen], [singles[i] for i in chosen],
                          ds.images[va], kp[va], ds.images[tr], rule, record, mirror=mirror,
                          quantization=quantization)
    click.echo(f"exported {len(chosen)} member(s) to {out_dir}: ensemble {entry['ensemble']['file']} "
               f"val RMSE {entry['ensemble']['val_rmse_px']:.3f} px")


if __name__ == "__main__":
    main()
