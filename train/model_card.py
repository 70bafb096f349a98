"""Writes models/MODEL_CARD.md: every figure in it is measured here, from the shipped files.

    python -m fkd.train.model_card --data ../shared/data/youtube-faces-68 [--models models]
"""

import argparse
import datetime
import json
import os
import time

import numpy as np

from ..crop import CropRule
from ..ensemble import Keypoints15, Runner
from ..facetracker import default_models_dir
from ..keypoints import NAMES, SUBSETS, subset_indices
from ..manifest import MIRROR_MODES, load_manifest
from .augment import AugmentConfig
from .data import load, split
from .evaluate import items_of, kaggle_errors, score


def latency_ms(path, n=300):
    r = Runner(path, threads=1)
    x = np.random.default_rng(0).integers(0, 256, (1, 96, 96), dtype=np.uint8)
    for _ in range(20):
        r.raw(x)
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        r.raw(x)
        t.append(time.perf_counter() - t0)
    return 1000 * float(np.median(t))


def crop_errors(pred, true):
    """Per keypoint RMSE in crop px and at Kaggle scale (36 / true eye distance in the crop)."""
    err, scaled = pred - true, kaggle_errors(pred, true)
    per_px = np.sqrt(np.nanmean((err ** 2).sum(axis=2) / 2, axis=0))
    per_k = np.sqrt(np.nanmean((scaled ** 2).sum(axis=2) / 2, axis=0))
    return per_px, per_k, float(np.sqrt(np.nanmean(err ** 2))), float(np.sqrt(np.nanmean(scaled ** 2)))


def augment_note(st):
    """The augmentation settings a run changed from the defaults (runs that did not record theirs used these)."""
    default = AugmentConfig().to_dict()
    changed = {k: v for k, v in st.get("augment", default).items() if default.get(k) != v}
    return f", augmentation {json.dumps(changed)} (the rest default)" if changed else ""


def member_line(st, trained, seed):
    sel = trained["selection"]
    line = (f"batch {st.get('batch_size')}, kernel {st.get('kernel')}, lr {st.get('lr')}, "
            f"{trained.get('epochs_run', {}).get(seed, '?')} epochs{augment_note(st)}")
    raw = sel.get("members_raw_weights_val_rmse_px", {}).get(seed)
    if raw is not None:
        line += f", weights averaged (momentum {st['ema']}; the raw weights' best epoch: {raw:.3f})"
    if st.get("init_from", "").endswith(".tflite"):
        line += f", started from the int8 member {os.path.basename(st['init_from'])}"
        if "init_from_val_rmse_px" in st:
            line += f" (validation {st['init_from_val_rmse_px']:.3f} at its export)"
        if st.get("arch") == "factorized":
            line += f", factorized to ranks {', '.join(map(str, st['ranks']))} by SVD"
    elif st.get("init_from"):
        src = st["init_from_settings"]
        line += (f", started from a member trained {st['init_from_epochs']} epochs at batch {src['batch_size']}, "
                 f"kernel {src['kernel']}, lr {src['lr']}{augment_note(src)}")
    start = sel.get("members_start_val_rmse_px", {}).get(seed)
    if st.get("init_from") and start is not None:
        return line + f": {start:.3f} before, {sel['members_val_rmse_px'][seed]:.3f} after"
    return line + f": {sel['members_val_rmse_px'][seed]:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=default_models_dir())
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", default="runs")
    a = ap.parse_args()
    m = load_manifest(a.models)
    rec = m["subsets"]["4pts"]["trained"]
    seed, frac = rec["data"]["split"]["seed"], rec["data"]["split"]["val_fraction"]
    tracker_crops = bool(rec["data"].get("tracker_crops"))
    ds = load(a.data, CropRule.from_dict(m["crop_rule"]), cache_dir=os.path.join(a.workdir, "cache"),
              tracker_crops=tracker_crops)
    tr, va, _ = split(ds, frac, seed)
    val = ds.take(va)

    # crop-level validation: framed as in training
    fused = Keypoints15(a.models)(val.images)
    one_by_one = Keypoints15(a.models, fused=False)(val.images)
    by_mirror = {mode: crop_errors(Keypoints15(a.models, fused=False, mirror=mode)(val.images), val.keypoints)[2:]
                 for mode in MIRROR_MODES}
    per_px, per_k, all_px, all_k = crop_errors(fused, val.keypoints)
    rows_kp = "\n".join(f"| {n} | {p:.2f} | {k:.2f} |" for n, p, k in zip(NAMES, per_px, per_k))

    # end to end on full frames
    items = list(items_of(a.data, a.models, "val"))
    e2e = score(items, models_dir=a.models, mode="image")
    one_crop = score(items, models_dir=a.models, mode="image", refine=0)
    tracked = score(items, repeat=10, models_dir=a.models, mode="video")
    shape = m.get("shape_correction")
    if shape:
        raw = score(items, models_dir=a.models, mode="image", shape_correction=False)
        cv = shape["cross_validated_kaggle_rmse"]
        shape_note = (f"All three figures include the quadratic shape correction (`tracker.shape`), fitted by "
                      f"`python -m fkd.train.shape_fit` on the answers for {shape['fitted_on']['faces']} faces of the "
                      f"training persons, their photos shown at sizes "
                      f"{', '.join(f'{v:g}' for v in shape['fitted_on'].get('scales', [1]))} ({shape['components']} principal components, ridge {shape['ridge']}; on "
                      f"its {cv['folds']} held-out folds {cv['before']:.3f} -> {cv['after']:.3f}); image mode "
                      f"without it (`--no-shape-correction`; any later stage then starts from the CNNs' "
                      f"answers): {raw['kaggle_rmse']:.3f}.")
    else:
        shape_note = "These models have no shape correction (`python -m fkd.train.shape_fit` fits one)."
    step = m.get("descent_step")
    if step:
        no_step = score(items, models_dir=a.models, mode="image", descent_step=False)
        cv = step["cross_validated_kaggle_rmse"]
        shape_note += (f" They also include the descent step (`tracker.descent`): HOG in {step['window']}-px "
                       f"windows around each corrected point, upright with 36 px between the eyes, and a ridge "
                       f"regression ({step['ridge']}) fitted by the same command (on its held-out folds "
                       f"{cv['before']:.3f} -> {cv['after']:.3f}); image mode without it (`--no-descent-step`): "
                       f"{no_step['kaggle_rmse']:.3f}.")

    subset_rows, member_rows = [], []
    for name, sub in m["subsets"].items():
        sel = sub["trained"]["selection"]
        idx = subset_indices(name)
        ens_px = float(np.sqrt(np.nanmean((fused[:, idx] - val.keypoints[:, idx]) ** 2)))
        subset_rows.append(f"| {name} | {len(sel['members_val_rmse_px'])} | {sel['best_single_val_rmse_px']:.3f} | "
                           f"{sel['average_of_all_val_rmse_px']:.3f} | {', '.join(sel['selected'])} | "
                           f"{sel['selected_val_rmse_px']:.3f} | {ens_px:.3f} ({sub['ensemble']['quantization']}) |")
        for mem in sub["members"]:
            path = os.path.join(a.models, mem["file"])
            member_rows.append(f"| {mem['file']} | {mem['quantization']} | {mem['val_rmse_px_float']:.3f} | "
                               f"{mem['val_rmse_px']:.3f} | {os.path.getsize(path) / 1e6:.2f} | {latency_ms(path):.2f} |")
        path = os.path.join(a.models, sub["ensemble"]["file"])
        member_rows.append(f"| {sub['ensemble']['file']} (fused) | {sub['ensemble']['quantization']} | | "
                           f"{sub['ensemble']['val_rmse_px']:.3f} | {os.path.getsize(path) / 1e6:.2f} | "
                           f"{latency_ms(path):.2f} |")
    s4 = m["subsets"]["4pts"]["trained"]
    member_lines = "\n".join(
        f"  - {name} {seed}: " + member_line(st, sub["trained"], seed)
        for name, sub in m["subsets"].items()
        for seed, st in sub["trained"].get("member_settings", {}).items())
    settings = {k: v for k, v in s4["settings"].items()}
    k = settings["kernel"]
    layers = f"conv {'->'.join(map(str, settings['widths']))}, {k}x{k} kernels"
    if settings.get("arch") == "factorized":
        through = [f"{w} through {r}" for w, r in zip(settings["widths"], settings["ranks"]) if r]
        layers += (f", each split into a {k}x1 and a 1x{k} convolution (`--arch factorized`; widths "
                   f"{', '.join(through)} channels)")
    elif settings.get("arch", "seed") != "seed":
        layers += f" (`--arch {settings['arch']}`)"
    tracker_note = ("; every detected face was cropped a second time from a box placed by its landmarks, as "
                    "the tracker frames a face between detections (`fkd-train --tracker-crops`), so each "
                    "such frame gives two crops, in training and in validation" if tracker_crops else "")
    text = f"""# fkd default models

Written by `python -m fkd.train.model_card --data {a.data}` on {datetime.date.today().isoformat()}; every
figure below is measured by that command from the files in this folder.

## What they are
Two ensembles of small CNNs ({layers}, batch norm, ReLU, max-pooling, dense {settings['dense']},
no regularisation), one per keypoint subset:
`4pts` ({', '.join(SUBSETS['4pts'])}) and `11pts` (the other 11). Each subset's selected members are fused
into one int8 TFLite graph that returns their average (with every second member fed the mirrored crop
where the manifest says `mirror: alternate`); the members are shipped beside it.

## Data
`{os.path.basename(os.path.normpath(a.data))}`: {len(set(ds.names))} real video frames of
{len(set(ds.persons))} people, 68 hand-placed landmarks turned into Kaggle's 15. Crops made with the
tracker's own Haar detector and crop rule ({rec['data'].get('stand_in_boxes', 0)} faces the detector missed
got a stand-in box from their landmarks){tracker_note}. Validation split by person: {len(set(val.names))} frames ({len(val)} crops) of
{len({it[1] for it in items})} persons never seen in training (seed {seed}, {frac:.0%} of persons).

## Training settings
Of the last `fkd-train` call (members trained earlier keep theirs: see "Member settings" below):
{json.dumps({k: settings[k] for k in ('epochs', 'batch_size', 'optimizer', 'lr', 'lr_schedule', 'ema', 'patience') if k in settings})}.
Augmentation, fresh every batch: {json.dumps(settings['augment'])}. Trained on: {s4['device']}.

## Validation, crop level (the boxes training saw)
All 15 points: RMSE {all_px:.3f} crop px, Kaggle-scale {all_k:.3f}. Fused graph against the members
run one by one and averaged: largest difference {np.nanmax(np.abs(fused - one_by_one)):.3f} crop px.
These crops are framed as in training (see Data). The end-to-end figure at the bottom runs the detector itself on the
full frames and is the one to compare with other systems.

| keypoint | RMSE, crop px | Kaggle-scale RMSE |
| --- | --- | --- |
{rows_kp}

## Best single member against the ensemble (validation RMSE, crop px)
Selection is greedy forward selection on the averaged ensemble's validation error.

| subset | members trained | best single (float) | average of all (float) | selected | selected (float) | shipped |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(subset_rows)}

## What each change bought (validation RMSE, crop px, all 15 points)
- Which members see the mirrored crop (`fkd-train --mirror`), shipped members run one by one,
  RMSE crop px / Kaggle-scale: {'; '.join(f"{mode} {px:.3f} / {k:.3f}" for mode, (px, k) in by_mirror.items())}.
  `alternate` costs nothing (every second member sees the mirror instead of the crop); `all` is flip
  test-time augmentation and runs every member twice. Shipped: {', '.join(f"{n} {sub['ensemble'].get('mirror', 'none')}" for n, sub in m['subsets'].items())}.
- Member settings (per-member validation RMSE, float):
{member_lines}
- Ensemble against best single member: in the table above.

## Float against int8, size and latency
Latency: one face (batch 1), one LiteRT thread (XNNPACK), median of 300 invokes. The validation
columns are those recorded at export (`manifest.json`), on the crops of that time; the tables above
measure the shipped files on today's crops, whose second framing follows `CropRule.box_from_keypoints`
as it is now, and may differ from them by a little.

| file | quantization | val RMSE float at export, px | val RMSE at export, px | MB | ms |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(member_rows)}

## End to end on full frames (`fkd-eval --data {a.data}`)
The tracker's own Haar detector on the full frames of the held-out persons, never the true box, in
image mode (each face cropped from the detector's box, then twice more from the box the points so far
place, turned upright by their roll, the first of the two mirrored; the three answers averaged):
Kaggle-scale RMSE **{e2e['kaggle_rmse']:.3f}**, faces missed {e2e['missed']} of {e2e['faces']}
({100 * e2e['missed_share']:.1f} %). With the first crop alone (`--refine 0`, a third of the
model time): {one_crop['kaggle_rmse']:.3f}. Tracked in video mode, each photo shown as a still clip of 10
frames and the last one scored (`fkd-eval --mode video --repeat 10`): {tracked['kaggle_rmse']:.3f},
missed {tracked['missed']}. {shape_note} Mean signed error (x, y), Kaggle-scale: {e2e['mean_error_kaggle'][0]:+.3f},
{e2e['mean_error_kaggle'][1]:+.3f} (labels read 1-based, as `train/data.py` says; members trained on them read
as 0-based had learned the offset in y but not in x, which the mirror augmentation flips).

| keypoint | Kaggle-scale RMSE |
| --- | --- |
{chr(10).join(f'| {n} | {v:.2f} |' for n, v in e2e['per_keypoint_kaggle_rmse'].items())}
"""
    path = os.path.join(a.models, "MODEL_CARD.md")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}: end-to-end Kaggle-scale RMSE {e2e['kaggle_rmse']:.3f}, missed {100 * e2e['missed_share']:.1f} %")


if __name__ == "__main__":
    main()
