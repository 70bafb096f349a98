"""What each member architecture costs: multiply-adds and milliseconds an invoke of its int8 TFLite graph.

    python benchmarks/bench_architectures.py

Random weights (the cost does not depend on them), one crop, LiteRT on one thread pinned to core 0.
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

CANDIDATES = [("seed", (24, 36, 48, 64), 5), ("seed", (24, 36, 48, 64), 3), ("seed", (16, 24, 32, 48), 3),
              ("separable", (24, 36, 48, 64), 5), ("separable", (32, 64, 96, 128), 5)]


def main():
    pin()
    rng = np.random.default_rng(0)
    rep = rng.integers(0, 256, (50, 96, 96), dtype=np.uint8)
    print(f"CPU: {cpu_name()}; one int8 member (22 outputs, dense 512), batch 1, one thread")
    print("| arch | widths | kernel | multiply-adds | ms an invoke |\n| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as d:
        for arch, widths, k in CANDIDATES:
            path = os.path.join(d, f"{arch}-{k}-{'-'.join(map(str, widths))}.tflite")
            with open(path, "wb") as f:
                f.write(convert(build(22, widths, k, 512, arch=arch), "int8", rep))
            r = Runner(path, threads=1)
            for _ in range(30):
                r.predict(rep[:1])
            t = time.perf_counter()
            for _ in range(300):
                r.predict(rep[:1])
            ms = (time.perf_counter() - t) / 300 * 1000
            print(f"| {arch} | {','.join(map(str, widths))} | {k} | {multiply_adds(path) / 1e6:.1f} M | {ms:.2f} |")


if __name__ == "__main__":
    main()
