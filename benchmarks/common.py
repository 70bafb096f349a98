"""What the benchmark scripts share: where the shared data and MediaPipe's models are, the mesh vertices
MediaPipe users take for the 15 points, the CPU's name, and pinning to one core."""

import argparse
import os
import platform
import sys

from fkd import default_models_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
DATA = os.path.join(SHARED, "data", "youtube-faces-68")
TASK = os.path.join(SHARED, "models", "mediapipe", "face_landmarker.task")
BLAZEFACE = os.path.join(SHARED, "models", "mediapipe", "blaze_face_short_range.tflite")
# the mesh vertices usually taken for these points (iris centres 473/468 need the 478-point model)
USUAL_VERTICES = [473, 468, 362, 263, 133, 33, 285, 300, 55, 70, 1, 291, 61, 0, 17]


def arguments(description):
    """A parser with the options every benchmark takes: --models, --data, --task."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--models", default=default_models_dir())
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--task", default=TASK)
    return ap


def require(prog, *paths):
    """Exits with one line where the shared data or a MediaPipe model is missing."""
    for p in paths:
        if not os.path.exists(p):
            sys.exit(f"{prog}: {p} is missing (the shared data and MediaPipe model)")


def pin(core=0):
    """This process on one core, so the systems are timed alike."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def cpu_name():
    """The CPU's model name, with its family, model and widest vector instructions: a virtual machine's
    name ("AMD EPYC") alone covers cores whose int8 speed differs by more than ten times."""
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" in info:
        flags = set(info.get("flags", "").split())
        simd = [f for f in ("avx2", "avx512f", "avx_vnni", "avx512_vnni") if f in flags]
        return (f"{info['model name']} (family {info.get('cpu family', '?')} model {info.get('model', '?')}"
                f"{', ' + ' '.join(simd) if simd else ''})")
    return platform.processor() or platform.machine()
