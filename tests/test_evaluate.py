"""Scoring systems against each other."""

import numpy as np

from fkd.train.evaluate import on_common, summarize_found


def test_on_common_scores_both_systems_on_the_faces_both_found():
    """A system is spared the hard face it missed only in its own figure; on the faces both found, neither is."""
    easy, hard = np.full((15, 2), 1.0), np.full((15, 2), 6.0)
    finder = {"a.jpg": easy, "b.jpg": easy, "hard.jpg": hard}
    misser = {"a.jpg": 2 * easy, "b.jpg": 2 * easy}
    assert summarize_found(finder, [])["kaggle_rmse"] > summarize_found(misser, ["hard.jpg"])["kaggle_rmse"]
    f, m = on_common(finder, misser)
    assert (f["faces"], m["faces"]) == (2, 2)
    assert (f["kaggle_rmse"], m["kaggle_rmse"]) == (1.0, 2.0)
