import os

# TensorFlow turns its oneDNN kernels on by default only on CPUs with VNNI or AMX; on AVX2-only cores
# they train our networks about twice as fast (docs/experiments.md). Set before TensorFlow is imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
