"""Augmentation and training throughput (images/s), and Kaggle CSV parsing speed.

    python benchmarks/bench_training.py

Runs on the GPU where TensorFlow sees one, else on the CPU.
"""

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from fkd.keypoints import NAMES, SUBSETS, subset_indices  # noqa: E402
from fkd.train.augment import AugmentConfig, augment  # noqa: E402
from fkd.train.data import Dataset, load_kaggle_csv, write_kaggle_csv  # noqa: E402


def main():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2048, 96, 96), dtype=np.uint8)
    kp = rng.uniform(20, 76, (2048, 15, 2)).astype(np.float32)

    t = time.perf_counter()
    for i in range(0, 2048, 256):
        augment(images[i:i + 256], kp[i:i + 256], AugmentConfig(), rng, NAMES)
    print(f"augmentation (all warps, batch 256, one thread): {2048 / (time.perf_counter() - t):.0f} images/s")

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.csv")
        write_kaggle_csv(Dataset(np.repeat(images[:1], 7049, axis=0), np.repeat(kp[:1], 7049, axis=0)), path)
        t = time.perf_counter()
        load_kaggle_csv(path)
        print(f"Kaggle CSV, 7,049 rows: {time.perf_counter() - t:.1f} s")

    import keras
    import tensorflow as tf

    from fkd.train.fit import Batches, to_targets
    from fkd.train.model import build, masked_mse

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    device = gpus[0].name if gpus else f"CPU ({os.cpu_count()} cores)"
    for batch in (64, 256):
        model = build(8)
        model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=masked_mse)
        four = kp[:, subset_indices("4pts")]
        x, y = images[..., None] / 255.0, to_targets(four)
        model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, epochs=1, verbose=0)   # build, warm up
        t = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        step = 2048 / (time.perf_counter() - t)
        data = Batches(images, four, list(SUBSETS["4pts"]), batch, AugmentConfig(), 0, workers=2)
        t = time.perf_counter()
        model.fit(data, epochs=1, verbose=0)
        full = 2048 / (time.perf_counter() - t)
        print(f"training on {device}, batch {batch}: {step:.0f} images/s (step only), "
              f"{full:.0f} images/s with fresh augmentation")


if __name__ == "__main__":
    main()
