"""The one keypoint table shared by training and tracking.

Kaggle's column order is the order of every keypoint array in fkd:
row i of a (15, 2) array is NAMES[i].
"""

NAMES = (
    "left_eye_center",
    "right_eye_center",
    "left_eye_inner_corner",
    "left_eye_outer_corner",
    "right_eye_inner_corner",
    "right_eye_outer_corner",
    "left_eyebrow_inner_end",
    "left_eyebrow_outer_end",
    "right_eyebrow_inner_end",
    "right_eyebrow_outer_end",
    "nose_tip",
    "mouth_left_corner",
    "mouth_right_corner",
    "mouth_center_top_lip",
    "mouth_center_bottom_lip",
)
INDEX = {name: i for i, name in enumerate(NAMES)}

# Kaggle practice: the 4 keypoints labelled on ~7,000 images and the 11 on ~2,000.
SUBSETS = {
    "4pts": ("left_eye_center", "right_eye_center", "nose_tip", "mouth_center_bottom_lip"),
}
SUBSETS["11pts"] = tuple(n for n in NAMES if n not in SUBSETS["4pts"])

# The subject's left and right: a horizontal flip turns one into the other.
FLIP_PAIRS = tuple(
    (INDEX[n], INDEX[n.replace("left", "right")]) for n in NAMES if "left" in n
)


def flip_permutation(names):
    """Index permutation that swaps left/right within `names` after a horizontal flip."""
    names = list(names)
    swap = {}
    for a, b in FLIP_PAIRS:
        swap[NAMES[a]], swap[NAMES[b]] = NAMES[b], NAMES[a]
    return [names.index(swap.get(n, n)) for n in names]


def subset_indices(subset):
    """Rows of the 15-point table that a subset predicts."""
    try:
        return [INDEX[n] for n in SUBSETS[subset]]
    except KeyError:
        raise ValueError(f"unknown subset {subset!r}; choose from {', '.join(SUBSETS)}") from None


# The 15 keypoints from the common 68-point layout (0-based); a tuple is averaged.
FROM_68 = {
    "left_eye_center": tuple(range(42, 48)),
    "right_eye_center": tuple(range(36, 42)),
    "left_eye_inner_corner": 42,
    "left_eye_outer_corner": 45,
    "right_eye_inner_corner": 39,
    "right_eye_outer_corner": 36,
    "left_eyebrow_inner_end": 22,
    "left_eyebrow_outer_end": 26,
    "right_eyebrow_inner_end": 21,
    "right_eyebrow_outer_end": 17,
    "nose_tip": 30,
    "mouth_left_corner": 54,
    "mouth_right_corner": 48,
    "mouth_center_top_lip": 51,
    "mouth_center_bottom_lip": 57,
}


def from_68(points68):
    """(..., 68, 2) landmarks -> (..., 15, 2) Kaggle keypoints."""
    import numpy as np

    p = np.asarray(points68, dtype=np.float32)
    out = [p[..., list(idx), :].mean(axis=-2) if isinstance(idx, tuple) else p[..., idx, :]
           for idx in (FROM_68[n] for n in NAMES)]
    return np.stack(out, axis=-2)
