"""What each member architecture costs: multiply-adds and milliseconds an invoke of its TFLite graph.

    python benchmarks/bench_architectures.py

Random weights (the cost does not depend on them), one crop, LiteRT on one thread pinned to core 0;
factorized ranks of 0 keep that convolution k x k. Int8 is what fkd ships; a few architectures are also
timed as float16 graphs (`fkd-train --quantization float16`), since which of the two runs faster depends
on the CPU's integer instructions.
"""

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import cpu_name, pin  # noqa: E402
from fkd.ensemble import Runner  # noqa: E402
from fkd.graph_cost import multiply_adds  # noqa: E402
from fkd.train.export import convert  # noqa: E402
from fkd.train.model import build  # noqa: E402

SEED = (24, 36, 48, 64)
# (arch, widths, kernel, ranks, quantization, split): split = the int8 graph's one-channel first convolution
# written as an exact pair (fkd/train/conv_split.py), as fkd-train exports it; the seed also without, to compare
CANDIDATES = [("seed", SEED, 5, None, "int8", True), ("seed", SEED, 5, None, "int8", False),
              ("seed", SEED, 5, None, "float16", False),
              ("seed", SEED, 3, None, "int8", True), ("seed", SEED, 3, None, "float16", False),
              ("seed", (16, 24, 32, 48), 3, None, "int8", True), ("seed", (16, 24, 32, 48), 3, None, "float16", False),
              ("separable", SEED, 5, None, "int8", True), ("separable", SEED, 5, None, "float16", False),
              ("separable", (32, 64, 96, 128), 5, None, "int8", True),
              ("factorized", SEED, 5, (5, 0, 0, 0), "int8", True), ("factorized", SEED, 5, (5, 32, 40, 48), "int8", True),
              ("factorized", SEED, 5, (5, 24, 32, 32), "int8", True)]
ROUNDS = 5   # the candidates timed in turn, so that the machine's swings fall on all alike


def main():
    pin()
    rng = np.random.default_rng(0)
    rep = rng.integers(0, 256, (50, 96, 96), dtype=np.uint8)
    print(f"CPU: {cpu_name()}; one member (22 outputs, dense 512), batch 1, one thread")
    print("| arch | widths | kernel | ranks | graph | first convolution | multiply-adds | ms an invoke (median of rounds) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    runners = []
    with tempfile.TemporaryDirectory() as d:
        for i, (arch, widths, k, ranks, quantization, split) in enumerate(CANDIDATES):
            path = os.path.join(d, f"{i}.tflite")
            with open(path, "wb") as f:
                f.write(convert(build(22, widths, k, 512, arch=arch, **({"ranks": ranks} if ranks else {})),
                                quantization, rep, split_convs=split))
            runners.append((Runner(path, threads=1), multiply_adds(path)))
        times = [[] for _ in CANDIDATES]
        for _ in range(ROUNDS):
            for (r, _), t in zip(runners, times):
                for _ in range(30):
                    r.predict(rep[:1])
                t0 = time.perf_counter()
                for _ in range(200):
                    r.predict(rep[:1])
                t.append((time.perf_counter() - t0) / 200 * 1000)
    for (arch, widths, k, ranks, quantization, split), (_, macs), t in zip(CANDIDATES, runners, times):
        first = f"{k}x1, 1x{k} (rank {ranks[0]})" if ranks and ranks[0] else ("exact pair" if split else "one")
        print(f"| {arch} | {','.join(map(str, widths))} | {k} | {','.join(map(str, ranks)) if ranks else ''} | "
              f"{quantization} | {first} | {macs / 1e6:.1f} M | {np.median(t):.2f} |")

if __name__ == "__main__":
    main()
