"""The member architectures by name, readable without Keras: fkd-train checks its options before
TensorFlow loads (train/model.py builds them)."""

ARCHITECTURES = ("seed", "separable", "factorized")
RANKS = (5, 32, 40, 48)   # factorized: the first exact; the rest as tried in docs/experiments.md
