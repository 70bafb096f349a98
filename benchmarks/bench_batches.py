"""What a change in the number of crops a call costs: one crop a call, two, and the two alternating.

    python benchmarks/bench_batches.py

fkd keeps one interpreter per batch size (fkd.ensemble.Runner), so alternating costs the mean of the
steady figures; re-allocating on every change would show as more.
"""

import os
import time

import numpy as np

from fkd import default_models_dir
from fkd.ensemble import Keypoints15

if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {0})
k = Keypoints15(default_models_dir(), threads=1)
rng = np.random.default_rng(0)
one, two = rng.integers(0, 255, (1, 96, 96), dtype=np.uint8), rng.integers(0, 255, (2, 96, 96), dtype=np.uint8)
for name, calls in (("one crop a call", [one] * 300), ("two crops a call", [two] * 300),
                    ("one and two alternating", [one, two] * 150)):
    k(calls[0]), k(calls[1])
    t = time.perf_counter()
    for c in calls:
        k(c)
    print(f"{name:24s} {1000 * (time.perf_counter() - t) / len(calls):.2f} ms a call (both subsets)")
