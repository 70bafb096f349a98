"""Train one ensemble member: fresh augmentation each batch, a checkpoint each epoch.

A run is a folder. Each finished epoch writes `ckpt-E.keras` (weights and
optimizer state), then `state.json` naming it, atomically; a run started again
with the same folder resumes after the last finished epoch. `history.csv` and
`history.png` hold the loss curves.

With `ema` set, the optimizer also keeps an exponential moving average of the
weights (Polyak averaging); each epoch is scored with both, and the averaged
weights are the ones kept as best, because the raw weights' validation error
swings by tenths of a pixel from one epoch to the next.
"""

import contextlib
import csv
import glob
import json
import math
import os
import threading
import time

import keras
import numpy as np

from ..keypoints import SUBSETS
from ..errors import FkdError, RunError, first_line
from ..manifest import load_manifest, write_json
from .augment import AugmentConfig, augment
from .factorize import load_tflite_member
from .architectures import RANKS
from .model import HALF, build, masked_mse


def to_targets(keypoints):
    """(n, k, 2) crop pixels -> (n, 2k) model targets."""
    return ((keypoints.reshape(len(keypoints), -1) - HALF) / HALF).astype(np.float32)


def to_pixels(outputs):
    """(n, 2k) model outputs -> (n, k, 2) crop pixels."""
    return (np.asarray(outputs, np.float32) * HALF + HALF).reshape(len(outputs), -1, 2)


def rmse(pred, true):
    """RMSE in crop pixels over the coordinates labelled in `true`."""
    ok = ~np.isnan(true)
    return float(np.sqrt(np.mean((pred[ok] - true[ok]) ** 2)))


def predict_px(model, images):
    """A Keras member's keypoints in crop pixels on uint8 (n, 96, 96) crops."""
    return to_pixels(model.predict(images[..., None].astype(np.float32) / 255.0, batch_size=256, verbose=0))


def val_rmse(model, images, keypoints):
    """A Keras member's RMSE in crop pixels on uint8 (n, 96, 96) crops."""
    return rmse(predict_px(model, images), keypoints)


class Teacher:
    """A trained subset's fused TFLite ensemble answering the augmented crops a student trains on.

    The student's target is `weight` x the teacher's answer + (1 - weight) x the label (the label's
    place taken by the teacher where it is missing): its MSE is the weighted sum of the MSE to each.
    One interpreter per loader thread, since an interpreter is not shared between threads.
    """

    def __init__(self, models_dir, subset, weight):
        manifest = load_manifest(models_dir)
        sub = manifest["subsets"].get(subset)
        if sub is None:
            raise RunError(f"{models_dir}: no {subset} ensemble to teach with")
        self.path = os.path.join(models_dir, sub["ensemble"]["file"])
        self.val_rmse_px = sub["ensemble"]["val_rmse_px"]
        self.weight = weight
        self.local = threading.local()

    def __call__(self, x, kp):
        """Targets for float crops `x` (n, 96, 96) in [0, 1] and their labels `kp` (n, k, 2)."""
        from ..ensemble import Runner

        if not hasattr(self.local, "runner"):
            self.local.runner = Runner(self.path, threads=1)
        answer = self.local.runner.predict(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8))
        return np.where(np.isnan(kp), answer, self.weight * answer + (1 - self.weight) * kp).astype(np.float32)


class Batches(keras.utils.PyDataset):
    """Shuffled mini-batches, augmented afresh; seeded by (seed, epoch, batch)."""

    def __init__(self, images, keypoints, names, batch_size, cfg, seed, epoch=0, teacher=None, **kw):
        super().__init__(**kw)
        self.images, self.keypoints, self.names = images, keypoints, names
        self.batch_size, self.cfg, self.seed, self.teacher = batch_size, cfg, seed, teacher
        self.set_epoch(epoch)

    def set_epoch(self, epoch):
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        x, kp = augment(self.images[idx], self.keypoints[idx], self.cfg, rng, self.names)
        if self.teacher is not None:
            kp = self.teacher(x, kp)
        return x[..., None], to_targets(kp)


@contextlib.contextmanager
def averaged_weights(model):
    """The optimizer's moving average of the weights put into the model for the block, if it keeps one."""
    opt = model.optimizer
    if not getattr(opt, "use_ema", False):
        yield False
        return
    variables, averages = opt._trainable_variables, opt._model_variables_moving_average
    raw = [keras.ops.convert_to_numpy(v) for v in variables]
    for v, a in zip(variables, averages):
        v.assign(a)
    try:
        yield True
    finally:
        for v, r in zip(variables, raw):
            v.assign(r)


class Checkpoint(keras.callbacks.Callback):
    """Per-epoch validation RMSE, atomic checkpoint, early stopping, history, progress."""

    def __init__(self, run_dir, state, val_images, val_kp, patience, bar, batches):
        super().__init__()
        self.run_dir, self.state = run_dir, state
        self.val_images, self.val_kp = val_images, val_kp
        self.patience, self.bar, self.batches = patience, bar, batches

    def score(self):
        return val_rmse(self.model, self.val_images, self.val_kp)

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float(logs["loss"])):   # before its checkpoint: the last one stays good
            raise RunError(f"{self.run_dir}: the loss became {float(logs['loss'])} in epoch {epoch + 1}; the member "
                           f"keeps epoch {epoch}'s checkpoint: try a lower --lr, or --restart")
        raw_val = self.score()
        s = self.state
        with averaged_weights(self.model) as averaged:
            val = self.score() if averaged else raw_val
            s["history"].append({"epoch": epoch + 1, "loss": float(logs["loss"]), "val_rmse_px": val,
                                 "raw_val_rmse_px": raw_val,
                                 "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                                 "time_s": time.time()})
            if val < s["best_val_rmse_px"]:
                s["best_val_rmse_px"], s["best_epoch"], s["wait"] = val, epoch + 1, 0
                self.model.save_weights(os.path.join(self.run_dir, "best.weights.h5.tmp.weights.h5"))
                os.replace(os.path.join(self.run_dir, "best.weights.h5.tmp.weights.h5"),
                           os.path.join(self.run_dir, "best.weights.h5"))
            else:
                s["wait"] += 1
        s["epoch"] = epoch + 1
        ckpt = f"ckpt-{epoch + 1}.keras"
        self.model.save(os.path.join(self.run_dir, ckpt + ".tmp.keras"))
        os.replace(os.path.join(self.run_dir, ckpt + ".tmp.keras"), os.path.join(self.run_dir, ckpt))
        s["checkpoint"] = ckpt
        if s["wait"] >= self.patience:
            s["stopped_early"] = True
            self.model.stop_training = True
        write_json(os.path.join(self.run_dir, "state.json"), s)
        for old in glob.glob(os.path.join(self.run_dir, "ckpt-*.keras")):
            if os.path.basename(old) != ckpt:
                os.remove(old)
        write_history(self.run_dir, s["history"])
        self.batches.set_epoch(epoch + 1)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", val_rmse=f"{val:.3f}px",
                                 best=f"{s['best_val_rmse_px']:.3f}")


def write_history(run_dir, history):
    tmp = os.path.join(run_dir, "history.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "loss", "val_rmse_px", "raw_val_rmse_px", "lr", "time_s"],
                           restval="")
        w.writeheader()
        w.writerows(history)
    os.replace(tmp, os.path.join(run_dir, "history.csv"))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(ep, [h["loss"] for h in history])
    ax[0].set(title="training loss (augmented)", xlabel="epoch", yscale="log")
    if any(h.get("raw_val_rmse_px", h["val_rmse_px"]) != h["val_rmse_px"] for h in history):
        ax[1].plot(ep, [h.get("raw_val_rmse_px", np.nan) for h in history], alpha=0.5, label="raw weights")
        ax[1].plot(ep, [h["val_rmse_px"] for h in history], label="moving average")
        ax[1].legend()
    else:
        ax[1].plot(ep, [h["val_rmse_px"] for h in history])
    ax[1].set(title="validation RMSE (crop px)", xlabel="epoch")
    fig.tight_layout()
    fig.savefig(os.path.join(run_dir, "history.png.tmp.png"), dpi=80)
    plt.close(fig)
    os.replace(os.path.join(run_dir, "history.png.tmp.png"), os.path.join(run_dir, "history.png"))


def init_from_settings(run_dir, subset):
    """What a member started from another run records: the folder, and that run's settings and epochs;
    or, started from a member's TFLite file, the file and what its models folder's manifest says of it."""
    if os.path.isfile(run_dir):
        return tflite_init_settings(run_dir, subset)
    try:
        with open(os.path.join(run_dir, "state.json")) as f:
            src = json.load(f)
    except (OSError, ValueError) as e:
        raise RunError(f"{run_dir}: not a member's run folder ({e})") from None
    if src.get("subset") != subset or not os.path.isfile(os.path.join(run_dir, "best.weights.h5")):
        raise RunError(f"{run_dir}: no trained {subset} member there")
    return {"init_from": os.path.abspath(run_dir), "init_from_settings": src["settings"],
            "init_from_epochs": src["epoch"], "init_from_val_rmse_px": round(src["best_val_rmse_px"], 4)}


def tflite_init_settings(path, subset):
    if not path.endswith(".tflite"):
        raise RunError(f"{path}: neither a member's run folder nor a .tflite member")
    out = {"init_from": os.path.abspath(path)}
    try:
        sub = load_manifest(os.path.dirname(os.path.abspath(path)))["subsets"][subset]
    except (FkdError, KeyError):
        return out   # a file without a manifest beside it starts a member all the same
    for m in sub["members"]:
        if m["file"] == os.path.basename(path):
            out["init_from_val_rmse_px"] = m["val_rmse_px"]
            seed = m.get("name", "").rpartition("_")[2]
            if seed in sub.get("trained", {}).get("member_settings", {}):
                out["init_from_settings"] = sub["trained"]["member_settings"][seed]
    return out


def make_optimizer(name, lr, schedule, steps, ema=0.0):
    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.01)
    opts = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
            "sgd": lambda **kw: keras.optimizers.SGD(momentum=0.9, nesterov=True, **kw)}
    return opts[name](learning_rate=lr, use_ema=ema > 0, ema_momentum=ema or 0.99)


def train_member(run_dir, subset, train_images, train_kp, val_images, val_kp, seed, settings, show_progress=True,
                 restart=False, say=print):
    """Train (or resume) one member; returns its best model and training state. A damaged run folder is
    a RunError naming the file, or with `restart` the member starts over; `say` tells which it does.

    `settings["augment"]` (AugmentConfig fields) is part of the settings a resumed member keeps;
    runs from before it was recorded used the defaults.
    """
    os.makedirs(run_dir, exist_ok=True)
    names = list(SUBSETS[subset])
    state_path = os.path.join(run_dir, "state.json")
    keras.utils.set_random_seed(seed)
    state = model = None
    if os.path.isfile(state_path):
        try:
            state = read_state(run_dir)
            model = load_checkpoint(run_dir, state["checkpoint"])
            if state["best_epoch"] and not os.path.isfile(os.path.join(run_dir, "best.weights.h5")):
                raise damaged(run_dir, "best.weights.h5", FileNotFoundError("missing"))
        except RunError:
            if not restart:
                raise
            say(f"seed{seed}: its run folder {run_dir} is damaged; starting over (--restart)")
            for name in os.listdir(run_dir):
                if name == "state.json" or name.startswith(("ckpt-", "best.weights")):
                    os.remove(os.path.join(run_dir, name))
            state = model = None
    resumed = state is not None
    if resumed:
        settings = state["settings"]   # a resumed member keeps the settings it started with
        if state["epoch"] >= settings["epochs"] or state["stopped_early"]:
            say(f"seed{seed}: already trained ({state['epoch']} epochs in {run_dir}); kept")
        else:
            say(f"seed{seed}: resuming after epoch {state['epoch']} of {settings['epochs']} ({run_dir})")
    else:
        state = {"subset": subset, "seed": seed, "epoch": 0, "best_val_rmse_px": float("inf"),
                 "best_epoch": 0, "wait": 0, "stopped_early": False, "history": [],
                 "settings": settings}
    teacher = None
    if settings.get("teacher"):
        teacher = Teacher(settings["teacher"]["models"], subset, settings["teacher"]["weight"])
    batches = Batches(train_images, train_kp, names, settings["batch_size"],
                      AugmentConfig(**settings.get("augment", {})), seed, teacher=teacher,
                      workers=settings.get("workers", 2), use_multiprocessing=False)
    if not resumed:
        model = build(2 * len(names), widths=tuple(settings["widths"]), kernel=settings["kernel"],
                      dense=settings["dense"], name=f"{subset}_seed{seed}", arch=settings.get("arch", "seed"),
                      ranks=tuple(settings.get("ranks", RANKS)))
        if settings.get("init_from", "").endswith(".tflite"):   # a trained member's file, factorized if asked
            sample = np.random.default_rng(seed).choice(len(train_images), min(512, len(train_images)), replace=False)
            load_tflite_member(model, settings["init_from"], train_images[np.sort(sample)])
            state["start_val_rmse_px"] = val_rmse(model, val_images, val_kp)
        elif settings.get("init_from"):   # fine-tuning: the other run's best weights, a fresh optimizer
            try:
                model.load_weights(os.path.join(settings["init_from"], "best.weights.h5"))
            except ValueError:
                src = settings["init_from_settings"]
                raise RunError(f"{settings['init_from']}: its weights do not fit this member (that run: "
                               f"{src.get('arch', 'seed')}, widths {src['widths']}, kernel {src['kernel']}, "
                               f"dense {src['dense']})") from None
            # what the fine-tuning will buy is measured against this, on the same validation crops
            state["start_val_rmse_px"] = val_rmse(model, val_images, val_kp)
        steps = settings["epochs"] * len(batches)
        model.compile(optimizer=make_optimizer(settings["optimizer"], settings["lr"],
                                               settings["lr_schedule"], steps, settings.get("ema", 0.0)),
                      loss=masked_mse)
    done = state["epoch"] >= settings["epochs"] or state["stopped_early"]
    if not done:
        # the epoch each attempt started after (saved with the next checkpoint): [0] for a run never interrupted
        state.setdefault("attempts", []).append(state["epoch"])
        batches.set_epoch(state["epoch"])
        bar = None
        if show_progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=settings["epochs"], initial=state["epoch"], unit="epoch",
                       desc=f"{subset} seed {seed}", dynamic_ncols=True)
        cb = Checkpoint(run_dir, state, val_images, val_kp, settings["patience"], bar, batches)
        model.fit(batches, epochs=settings["epochs"], initial_epoch=state["epoch"],
                  callbacks=[cb], verbose=0, shuffle=False)
        if bar is not None:
            bar.close()
    try:
        model.load_weights(os.path.join(run_dir, "best.weights.h5"))
    except (OSError, ValueError) as e:
        raise damaged(run_dir, "best.weights.h5", e) from None
    return model, state


def damaged(run_dir, name, error):
    return RunError(f"{os.path.join(run_dir, name)}: damaged ({first_line(error, 120)}); run the same command with --restart "
                    "to train this member over")


def read_state(run_dir):
    """A member's state.json, checked; a RunError naming it where it is damaged."""
    try:
        with open(os.path.join(run_dir, "state.json")) as f:
            state = json.load(f)
        for key in ("epoch", "settings", "history", "checkpoint", "best_val_rmse_px", "stopped_early"):
            if key not in state:
                raise ValueError(f"no {key!r}")
    except (OSError, ValueError) as e:
        raise damaged(run_dir, "state.json", e) from None
    return state


def load_checkpoint(run_dir, name):
    """The model and optimizer of a member's last finished epoch; a RunError naming the file where it is damaged."""
    path = os.path.join(run_dir, name)
    if not os.path.isfile(path):
        raise damaged(run_dir, name, FileNotFoundError("missing"))
    try:
        return keras.models.load_model(path, custom_objects={"masked_mse": masked_mse})
    except Exception as e:   # Keras raises many kinds for a broken archive
        raise damaged(run_dir, name, e) from None
