"""What a user installs: the built wheel, alone in a clean virtual environment, run from outside the checkout."""

import os
import shutil
import subprocess
import sys
import zipfile

import cv2

from conftest import ROOT

SKIP = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__",
                              ".pytest_cache", "demo-annotated.*")


def run(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_the_built_wheel_installs_and_tracks_the_demo_from_anywhere(tmp_path):
    src = tmp_path / "src"   # built from a copy, so the checkout gets no build/ or egg-info
    shutil.copytree(ROOT, src, ignore=SKIP)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", src)
    wheel = next((tmp_path / "dist").glob("fkd-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"fkd"}, tops   # nothing else lands at the top of site-packages
    assert "fkd/models/manifest.json" in names and any(n.endswith(".tflite") for n in names)

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", wheel)
    away = tmp_path / "elsewhere"
    away.mkdir()
    shutil.copy(os.path.join(ROOT, "examples", "demo.mp4"), away / "demo.mp4")
    env = {k: v for k, v in os.environ.items() if k not in ("FKD_MODELS", "PYTHONPATH")}
    run(venv / "bin" / "fkd-track", "--video", "demo.mp4", "--out", "o.mp4", "--json", "o.jsonl", cwd=away, env=env)
    cap = cv2.VideoCapture(str(away / "o.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 90
    cap.release()
    rows = (away / "o.jsonl").read_text().splitlines()
    assert len(rows) == 90 and all('"left_eye_center"' in r for r in rows)
    run(py, "-c", "import fkd, sys; fkd.FaceTracker; assert 'tensorflow' not in sys.modules; "
                  "assert fkd.default_models_dir().startswith(sys.prefix), fkd.default_models_dir()", cwd=away, env=env)
    files = run(py, "-m", "pip", "show", "-f", "fkd", cwd=away).stdout
    assert "tracker/" not in files and "train/" not in files.replace("fkd/train/", "")
