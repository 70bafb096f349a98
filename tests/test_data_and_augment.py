"""Data loading, the crop rule, the keypoint table and augmentation (no TensorFlow needed)."""

import os

import cv2
import numpy as np
import pytest

from conftest import need_shared
from fkd.crop import CropRule, crop, to_crop, to_image
from fkd.keypoints import FLIP_PAIRS, NAMES, SUBSETS, flip_permutation, from_68
from fkd.train.augment import AugmentConfig, augment
from fkd.errors import DataError
from fkd.train.data import load_kaggle_csv, load_landmark_folder, person_of, split

HEADER = ",".join([f"{n}_{a}" for n in NAMES for a in "xy"] + ["Image"])


def kaggle_row(kp, pixels="1 " * 9215 + "1"):
    return ",".join("" if np.isnan(v) else str(v) for v in kp) + "," + pixels


def test_kaggle_csv_missing_values(tmp_path):
    kp = np.arange(30, dtype=float)
    kp2 = kp.copy()
    kp2[4:26] = np.nan
    (tmp_path / "t.csv").write_text("\n".join([HEADER, kaggle_row(kp), kaggle_row(kp2)]) + "\n")
    ds = load_kaggle_csv(tmp_path / "t.csv")
    assert ds.images.shape == (2, 96, 96) and ds.images.dtype == np.uint8
    assert np.allclose(ds.keypoints[0].reshape(-1), kp)
    assert np.isnan(ds.keypoints[1, 2:13]).all() and not np.isnan(ds.keypoints[1, [0, 1, 13, 14]]).any()


@pytest.mark.parametrize("row, problem", [
    (kaggle_row(np.zeros(30), "1 2 3"), "3 pixels"),
    (kaggle_row(np.zeros(30), "x " * 9216), "not a number"),
    (kaggle_row(np.zeros(30), "300 " * 9216), "outside 0..255"),
    ("1,2,3", "fields"),
])
def test_kaggle_csv_malformed_rows(tmp_path, row, problem):
    (tmp_path / "t.csv").write_text("\n".join([HEADER, kaggle_row(np.zeros(30)), row]) + "\n")
    with pytest.raises(DataError, match=f"row 3: .*{problem}"):
        load_kaggle_csv(tmp_path / "t.csv")
    ds = load_kaggle_csv(tmp_path / "t.csv", skip_bad=True)
    assert len(ds) == 1 and ds.info["skipped"] == 1


def test_kaggle_csv_full_size(tmp_path):
    row = kaggle_row(np.full(30, 40.5), " ".join(["128"] * 9216))
    (tmp_path / "t.csv").write_text(HEADER + "\n" + "\n".join([row] * 7049) + "\n")
    ds = load_kaggle_csv(tmp_path / "t.csv")   # its speed: benchmarks/bench_training.py
    assert len(ds) == 7049 and ds.images[-1, -1, -1] == 128


def test_keypoint_table():
    assert len(NAMES) == 15 and set(SUBSETS["4pts"]) | set(SUBSETS["11pts"]) == set(NAMES)
    assert len(FLIP_PAIRS) == 6
    for subset in SUBSETS.values():
        perm = flip_permutation(subset)
        assert sorted(perm) == list(range(len(subset)))
        assert [perm[p] for p in perm] == list(range(len(subset)))   # swapping twice is the identity
    p68 = np.zeros((68, 2))
    p68[42:48] = [[10, 0]] * 6
    p68[57] = [5, 9]
    k = from_68(p68)
    assert np.allclose(k[0], [10, 0]) and np.allclose(k[14], [5, 9])


@pytest.mark.parametrize("angle", [0.0, 0.4, -0.7])
def test_crop_affine_round_trip(angle):
    rule = CropRule()
    img = np.zeros((400, 500), np.uint8)
    cv2.circle(img, (260, 180), 3, 255, -1)
    # the second box is large enough for the pyramid path
    for box in ([200, 120, 120, 120], [100, 20, 330, 330], [-40, -40, 100, 100]):
        c, m = crop(img, box, rule, angle)
        assert c.shape == (96, 96)
        p = to_crop([[260, 180]], m)
        assert np.allclose(to_image(p, m), [[260, 180]])
        x, y = p[0]
        if 3 < x < 92 and 3 < y < 92:   # the dot is where the affine says
            yy, xx = np.unravel_index(np.argmax(cv2.GaussianBlur(c, (5, 5), 0)), c.shape)
            assert abs(xx - x) <= 1.5 and abs(yy - y) <= 1.5


def test_turned_crop_puts_the_eyes_level():
    from fkd.crop import roll
    from fkd.demo import GRACE_HOPPER_KEYPOINTS as upright

    turn = cv2.getRotationMatrix2D((250.0, 200.0), 25.0, 1.0)   # rolls the face by -25 degrees
    k = upright @ turn[:, :2].T + turn[:, 2]
    assert np.degrees(roll(k)) == pytest.approx(np.degrees(roll(upright)) - 25, abs=1e-6)
    rule = CropRule()
    _, m = crop(np.zeros((400, 500), np.uint8), rule.box_from_keypoints(k), rule, roll(k))
    assert roll(to_crop(k, m)) == pytest.approx(0.0, abs=1e-9)


def test_box_from_keypoints_follows_the_pose_not_the_shape():
    from fkd.crop import MEAN_SHAPE, fit_similarity, roll

    rule = CropRule()
    turn = cv2.getRotationMatrix2D((48.0, 48.0), 20.0, 2.5)
    turn[:, 2] += (130, 70)
    face = np.asarray(MEAN_SHAPE) @ turn[:, :2].T + turn[:, 2]
    # a similarity is fitted exactly, with rows missing too
    partial = face.copy()
    partial[2:10] = np.nan
    ok = ~np.isnan(partial[:, 0])
    assert np.allclose(fit_similarity(np.asarray(MEAN_SHAPE), partial, ok), face)
    box = rule.box_from_keypoints(face)
    assert np.allclose(rule.box_from_keypoints(partial), box)
    # the mean face in a crop of its box is where it started (the tracking loop's fixed point), to
    # within the pixel by which the shipped box_* and the mean face were fitted apart
    _, m = crop(np.zeros((400, 500), np.uint8), box, rule, roll(face) - roll(np.asarray(MEAN_SHAPE)))
    assert np.abs(to_crop(face, m) - np.asarray(MEAN_SHAPE)).max() < 2.0
    # one point wrong, the bottom lip 10 % of the box too high: as one of the four anchors it would shrink
    # the box by 13 %; as one of the fifteen points the face is fitted to, by 3 %
    down = turn[:, 1] / np.hypot(*turn[:, 1])
    lip = face.copy()
    lip[14] -= 0.1 * box[2] * down
    moved = rule.box_from_keypoints(lip)
    assert abs(moved[2] / box[2] - 1) < 0.05
    assert np.abs(moved[:2] + moved[2:] / 2 - box[:2] - box[2:] / 2).max() < 0.01 * box[2]


def dots(points, size=96):
    img = np.zeros((len(points), size, size), np.uint8)
    for i, pts in enumerate(points):
        for x, y in pts:
            cv2.circle(img[i], (int(round(x)), int(round(y))), 2, 255, -1)
    return img


def find_dots(img, k):
    """Centres of the k brightest blobs."""
    _, bw = cv2.threshold((img * 255).astype(np.uint8), 90, 255, cv2.THRESH_BINARY)
    n, _, stats, cent = cv2.connectedComponentsWithStats(bw)
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:k] + 1
    return cent[order]


@pytest.mark.parametrize("kind", ["affine", "perspective", "elastic", "all"])
def test_geometric_augmentation_moves_labels_with_pixels(kind):
    rng = np.random.default_rng(3)
    pts = np.array([[[30.0, 35.0], [66.0, 33.0], [48.0, 75.0]]] * 12) + rng.uniform(-4, 4, (12, 3, 2))
    cfg = AugmentConfig(flip=kind in ("affine", "all"), rotation_deg=20, scale=0.1, shift_px=6,
                        perspective=0.002 if kind in ("perspective", "all") else 0.0,
                        elastic_px=2.0 if kind in ("elastic", "all") else 0.0, contrast=0, brightness=0)
    if kind == "perspective":
        cfg.rotation_deg = cfg.scale = cfg.shift_px = 0
    x, kp = augment(dots(pts), pts, cfg, rng, names=None)
    for img, want in zip(x, kp):
        got = find_dots(img, 3)
        d = np.linalg.norm(got[:, None] - want[None], axis=2)   # nearest label per dot
        assert d.min(axis=1).max() < 1.2, (kind, got, want)


def test_flip_swaps_left_and_right():
    names = list(SUBSETS["4pts"])   # left eye, right eye, nose, bottom lip
    pts = np.array([[[66.0, 37.0], [30.0, 37.0], [48.0, 60.0], [48.0, 80.0]]])
    cfg = AugmentConfig(rotation_deg=0, scale=0, shift_px=0, perspective=0, elastic_px=0, contrast=0,
                        brightness=0)
    for seed in range(6):
        x, kp = augment(dots(pts), pts, cfg, np.random.default_rng(seed), names)
        if not np.allclose(x, dots(pts) / 255.0):   # flipped this time
            assert np.allclose(kp[0, 0], [95 - 30.0, 37.0]) and np.allclose(kp[0, 1], [95 - 66.0, 37.0])
            assert np.allclose(kp[0, 2], [95 - 48.0, 60.0])
            # flipping the flipped image back is the identity
            x2, kp2 = augment((x * 255).round().astype(np.uint8), kp, cfg, np.random.default_rng(seed), names)
            assert np.allclose(kp2, pts) and np.allclose(x2, dots(pts) / 255.0)
            return
    pytest.fail("no flip in 6 draws")


def test_missing_labels_stay_missing():
    pts = np.array([[[30.0, 35.0], [np.nan, np.nan]]])
    _, kp = augment(dots(pts[:, :1]), pts, AugmentConfig(), np.random.default_rng(0), None)
    assert np.isnan(kp[0, 1]).all() and not np.isnan(kp[0, 0]).any()


def test_person_names_and_split():
    assert person_of("Luis_Fonsi_21a.jpg") == "Luis_Fonsi"
    assert person_of("Abdel_Aziz_Al-Hakim_00a.jpg") == "Abdel_Aziz_Al-Hakim"


def test_landmark_folder_split_by_person(tmp_path):
    root = need_shared("data/youtube-faces-68")
    import csv

    with open(os.path.join(root, "landmarks.csv")) as f:
        rows = list(csv.reader(f))[1:]
    sub = os.path.join(os.environ.get("PYTEST_TMP", "/tmp"), "fkd-lm-slice")
    os.makedirs(os.path.join(sub, "images"), exist_ok=True)
    rows = rows[:60]
    with open(os.path.join(sub, "landmarks.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image"] + [f"{a}{i}" for i in range(68) for a in "xy"])
        w.writerows(rows)
    for r in rows:
        dst = os.path.join(sub, "images", r[0])
        if not os.path.exists(dst):
            os.symlink(os.path.join(root, "images", r[0]), dst)
    ds = load_landmark_folder(sub, cache_dir=str(tmp_path))
    assert np.array_equal(load_landmark_folder(sub, cache_dir=str(tmp_path)).images, ds.images)
    # the cache holds the detector's boxes: a detector with other settings gets its own entry
    from fkd.detectors import HaarDetector
    load_landmark_folder(sub, detector=HaarDetector(min_neighbors=8), cache_dir=str(tmp_path))
    assert len(os.listdir(tmp_path)) == 2
    assert ds.images.shape == (60, 96, 96) and ds.info["detected"] >= 50
    # tracker framing: every detected face again, cropped from its keypoints; the photo's person goes with it
    both = load_landmark_folder(sub, cache_dir=str(tmp_path), tracker_crops=True)
    n_det = ds.info["detected"]
    assert len(both) == 60 + n_det and both.info["tracker_crops"] == n_det
    assert np.array_equal(both.images[:60], ds.images)
    extra = slice(60, None)
    assert both.persons[extra] == [p for p, d in zip(ds.persons, ds.detected) if d]
    assert not both.detected[extra].any()
    # framed by the same rule the tracker uses: the box from the crop's own points is the crop's box
    from fkd.crop import CropRule
    rule = CropRule()
    for kp in both.keypoints[extra][:10]:
        x, y, w, h = rule.box_from_keypoints(kp)
        cx, cy, side = rule.square((x, y, w, h))
        assert abs(cx - 47.5) < 0.01 and abs(cy - 47.5) < 0.01 and abs(side - 96) < 0.01
    iod = np.linalg.norm(ds.keypoints[:, 0] - ds.keypoints[:, 1], axis=1)
    assert 30 < np.median(iod) < 42   # framed as Kaggle's crops: about 36 px
    tr, va, info = split(ds, 0.3, seed=1)
    assert info["by"] == "person"
    assert not {ds.persons[i] for i in tr} & {ds.persons[i] for i in va}
