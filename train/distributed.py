"""`fkd-train --ray`: each member one Ray task, resumable, with the data in Ray's object store.

The driver puts the prepared crops into the object store once; a node fetches them once and its
tasks read them there without a copy. Each task trains its member into the member's run folder
(`fkd.train.fit.train_member`, a checkpoint every epoch), so a task lost with its node is retried by
Ray and resumes after the last checkpoint: at most the epoch under way is lost. The work folder must
therefore be one that every node sees (a shared file system); the driver reads the members' state
files from it to show progress, then loads and exports the members as a serial run does.
"""

import json
import os

from ..cluster import connect, task_error

RETRIES = 5   # attempts a member gets beyond its first, for tasks lost with their node


def _train_task(run_dir, subset, data, seed, settings, restart, threads):
    """One member, in a Ray worker: TensorFlow on the task's CPUs (and its share of a GPU)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    gpus = tf.config.list_physical_devices("GPU")
    for g in gpus:   # several members on one GPU: each takes the memory it needs, not all of it
        tf.config.experimental.set_memory_growth(g, True)
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    from .fit import train_member

    train_x, train_kp, val_x, val_kp = data
    _, state = train_member(run_dir, subset, train_x, train_kp, val_x, val_kp, seed, settings,
                            show_progress=False, restart=restart, say=lambda msg: None)
    return {"seed": seed, "epochs": state["epoch"], "attempts": state.get("attempts", []),
            "best_val_rmse_px": state["best_val_rmse_px"]}


def progress(jobs):
    """(members finished, epochs done, best validation RMSE so far) from the members' state files."""
    finished, epochs, best = 0, 0, float("inf")
    for run_dir, _, settings in jobs:
        try:
            with open(os.path.join(run_dir, "state.json")) as f:
                s = json.load(f)
        except (OSError, ValueError):   # not started yet, or being replaced
            continue
        epochs += s["epoch"]
        best = min(best, s["best_val_rmse_px"])
        finished += s["epoch"] >= s["settings"]["epochs"] or s["stopped_early"]
    return finished, epochs, best


def train_on_ray(address, jobs, subset, data, cpus_per_member, gpus_per_member, restart=False, show_progress=True,
                 say=print):
    """Trains every member of `jobs` ((run folder, seed, settings) each) as a Ray task; returns the tasks' reports."""
    from tqdm.auto import tqdm

    ray = connect(address)
    data_ref = ray.put(data)
    # a fresh worker process a member (max_calls=1): TensorFlow's threads and GPU memory go with it
    task = ray.remote(max_calls=1)(_train_task).options(num_cpus=cpus_per_member, num_gpus=gpus_per_member,
                                                        max_retries=RETRIES, retry_exceptions=False)
    threads = max(1, int(cpus_per_member))
    pending = [task.remote(run_dir, subset, data_ref, seed, settings, restart, threads)
               for run_dir, seed, settings in jobs]
    total = sum(s["epochs"] for _, _, s in jobs)
    cluster = ray.cluster_resources()
    say(f"{len(jobs)} member(s) on Ray: {cluster.get('CPU', 0):g} CPU(s), {cluster.get('GPU', 0):g} GPU(s) in the "
        f"cluster; {cpus_per_member:g} CPU(s) and {gpus_per_member:g} GPU(s) a member")
    bar = tqdm(total=total, unit="epoch", desc=f"{subset} on Ray", disable=not show_progress, dynamic_ncols=True)
    reports = []
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=2.0)
            for ref in done:
                try:
                    reports.append(ray.get(ref))
                except Exception as e:   # the member's own error (a NaN loss, a damaged run) or a lost task
                    for other in pending:
                        ray.cancel(other)
                    raise task_error(e) from None
            finished, epochs, best = progress(jobs)
            bar.n = epochs
            bar.set_postfix(members=f"{finished}/{len(jobs)}", best=f"{best:.3f}px" if best < float("inf") else "-")
            bar.refresh()
    finally:
        bar.close()
    return reports
