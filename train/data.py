"""Training data: Kaggle's CSV or a folder of 68-landmark photos -> 96x96 crops + 15 keypoints.

Every loader returns a `Dataset`: uint8 images (N, 96, 96), float32 keypoints
(N, 15, 2) in crop pixels with NaN where a label is missing, and the person
of each image where the data names one (for a split by person).
"""

import csv
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import DataError
from ..crop import ANCHORS, CropRule, crop, to_crop
from ..detectors import HaarDetector
from ..keypoints import NAMES, from_68

log = logging.getLogger("fkd")


@dataclass
class Dataset:
    images: np.ndarray
    keypoints: np.ndarray
    persons: list = None
    names: list = None
    detected: np.ndarray = None   # True where the Haar box framed the crop, False for a box from the labels
    info: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.images)

    def take(self, idx):
        idx = np.asarray(idx)
        pick = lambda v: None if v is None else [v[i] for i in idx]
        return Dataset(self.images[idx], self.keypoints[idx], pick(self.persons), pick(self.names),
                       None if self.detected is None else self.detected[idx], dict(self.info))


# ---------------------------------------------------------------- Kaggle CSV

KAGGLE_COLUMNS = [f"{n}_{a}" for n in NAMES for a in ("x", "y")]


def check_text_file(path):
    """A DataError for a file that is an archive or binary rather than a CSV."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"PK\x03\x04"):
        raise DataError(f"{path}: is a zip archive, not a CSV: unpack it and pass the CSV (or the folder)")
    if head.startswith(b"\x1f\x8b"):
        raise DataError(f"{path}: is gzip-compressed, not a CSV: gunzip it first")
    if b"\0" in head:
        raise DataError(f"{path}: is a binary file, not a CSV")


def load_kaggle_csv(path, skip_bad=False):
    """Kaggle's training.csv (or test.csv, which has no keypoint columns)."""
    images, keypoints, ids, skipped = [], [], [], 0
    check_text_file(path)
    with open(path, newline="", errors="replace") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file") from None
        if "Image" not in header:
            raise DataError(f"{path}: no 'Image' column; is this a Kaggle facial-keypoints CSV?")
        img_col = header.index("Image")
        kp_cols = [header.index(c) if c in header else None for c in KAGGLE_COLUMNS]
        id_col = header.index("ImageId") if "ImageId" in header else None
        for rowno, row in enumerate(reader, start=2):
            try:
                if len(row) != len(header):
                    raise DataError(f"{len(row)} fields, header has {len(header)}")
                pixels = parse_pixels(row[img_col])
                if pixels.min() < 0 or pixels.max() > 255:
                    raise DataError("pixel values outside 0..255")
                kp = np.array([float(row[c]) if c is not None and row[c].strip() else np.nan
                               for c in kp_cols], dtype=np.float32)
                if np.isinf(kp).any():
                    raise DataError("a keypoint is infinite (leave a missing label empty)")
            except (DataError, ValueError) as e:
                msg = str(e) if isinstance(e, DataError) else f"not a number ({e})"
                if skip_bad:
                    skipped += 1
                    continue
                raise DataError(f"{path}, row {rowno}: {msg}") from None
            images.append(pixels.reshape(96, 96).astype(np.uint8))
            keypoints.append(kp.reshape(15, 2))
            ids.append(row[id_col] if id_col is not None else str(rowno - 1))
    if not images:
        raise DataError(f"{path}: no rows of data" + (f" ({skipped} skipped as malformed)" if skipped else
                                                       " after the header"))
    return Dataset(np.stack(images), np.stack(keypoints), None, ids,
                   info={"source": os.path.abspath(path), "format": "kaggle-csv", "skipped": skipped})


def parse_pixels(text):
    """9,216 space-separated numbers; np.fromstring as integers is ~5x faster than split()."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pixels = np.fromstring(text, dtype=np.int16, sep=" ") if text.strip() else np.zeros(0)
        if 0 < pixels.size < 96 * 96:   # stopped early: maybe written as decimals
            pixels = np.fromstring(text, dtype=np.float32, sep=" ")
    if pixels.size != 96 * 96:
        tokens = text.split()
        if len(tokens) != pixels.size:   # fromstring stopped at something that is not a number
            bad = next((t for t in tokens if not t.replace(".", "", 1).lstrip("-").isdigit()), tokens[pixels.size])
            raise DataError(f"pixel {bad!r} is not a number")
        raise DataError(f"{pixels.size} pixels, expected 9216")
    return pixels


def write_kaggle_csv(ds, path):
    """A Dataset as Kaggle's training.csv layout (empty field for a missing label)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(KAGGLE_COLUMNS + ["Image"])
        for img, kp in zip(ds.images, ds.keypoints):
            vals = ["" if np.isnan(v) else f"{v:.4f}" for v in kp.reshape(-1)]
            w.writerow(vals + [" ".join(map(str, img.reshape(-1).tolist()))])
    os.replace(tmp, path)


# -------------------------------------------------------- 68-landmark folder

PERSON = re.compile(r"_\d+[a-z]?$")


def person_of(filename):
    """`Luis_Fonsi_21a.jpg` -> `Luis_Fonsi`."""
    return PERSON.sub("", os.path.splitext(os.path.basename(filename))[0])


# landmarks.csv counts pixels from 1, as the iBUG 68-point annotations do (pixel (0, 0)'s centre is
# (1, 1)); the project counts from 0. Members trained on labels read as 0-based learned the offset in y
# but not in x, where the mirror augmentation flips about the crop's 0-based centre (docs/experiments.md).
LANDMARK_ORIGIN = 1.0


def read_landmark_folder(root):
    """(file names, (N, 68, 2) landmarks, 0-based) of a folder with images/ and landmarks.csv."""
    path = os.path.join(root, "landmarks.csv")
    if not os.path.isfile(path):
        raise DataError(f"{root}: no landmarks.csv (expected images/ and landmarks.csv)")
    names, pts = [], []
    check_text_file(path)
    with open(path, newline="", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        for rowno, row in enumerate(reader, start=2):
            if len(row) != 137:
                raise DataError(f"{path}, row {rowno}: {len(row)} fields, expected 137")
            try:
                p = np.array(row[1:], dtype=np.float32).reshape(68, 2)
            except ValueError as e:
                raise DataError(f"{path}, row {rowno}: not a number ({e})") from None
            if not np.isfinite(p).all():
                raise DataError(f"{path}, row {rowno}: a landmark is not a finite number")
            pts.append(p)
            names.append(row[0])
    if not pts:
        raise DataError(f"{path}: no rows of landmarks after the header")
    return names, np.stack(pts) - LANDMARK_ORIGIN


def match_detection(boxes, keypoints):
    """Index of the best-scored box holding the eye centres and the nose tip, else None."""
    for i, (x, y, w, h) in enumerate(boxes):
        p = keypoints[[0, 1, 10]]
        if np.all((p[:, 0] >= x) & (p[:, 0] <= x + w) & (p[:, 1] >= y) & (p[:, 1] <= y + h)):
            return i
    return None


def detect_faces(root, names, k15, detector):
    """Haar box per image matched to the true face (NaN row where missed)."""
    boxes = np.full((len(names), 4), np.nan)
    for i, name in enumerate(names):
        gray = cv2.imread(os.path.join(root, "images", name), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise DataError(f"{root}/images/{name}: missing or unreadable image")
        b, _ = detector(gray)
        j = match_detection(b, k15[i])
        if j is not None:
            boxes[i] = b[j]
    return boxes


def mean_face(boxes, k15, rule):
    """(15, 2) mean of the keypoints in the crops `rule` makes of these boxes (NaN rows skipped), px."""
    ok = ~np.isnan(boxes[:, 0])
    return np.nanmean(np.stack([to_crop(k, rule.matrix(b)) for k, b in zip(k15[ok], boxes[ok])]), axis=0)


def fit_crop_rule(boxes, k15, size=96, iod=36.0, eye_y=37.7):
    """Crop-rule parameters from Haar boxes and true keypoints of the same faces.

    Chosen so that the median face is framed like Kaggle's: eye centres `iod`
    px apart and `eye_y` px from the top of the crop; the mean face in such a
    crop places boxes from keypoints (`CropRule.box_from_keypoints`).
    """
    ok = ~np.isnan(boxes[:, 0])
    b, k = boxes[ok], k15[ok]
    w = b[:, 2]
    d = np.linalg.norm(k[:, 0] - k[:, 1], axis=1)
    scale = float(np.median(size * (d / w) / iod))
    eye_rel = (k[:, :2, 1].mean(axis=1) - (b[:, 1] + b[:, 3] / 2)) / b[:, 3]
    shift_y = float(np.median(eye_rel + scale / 2 - eye_y * scale / size))
    # keypoints -> box: chosen so the mean face is a fixed point (crop -> points -> same box),
    # else tracking from the previous frame's points drifts a little every frame
    rule = CropRule(size=size, scale=scale, shift_y=shift_y)
    mean_shape = mean_face(b, k, rule)
    anchors = mean_shape[ANCHORS]
    c = anchors.mean(axis=0)
    s_m = float(np.sqrt(((anchors - c) ** 2).sum(axis=1).mean()))
    half = (size - 1) / 2.0
    return CropRule(size=size, scale=round(scale, 4), shift_y=round(shift_y, 4),
                    box_dx=round(float((half - c[0]) / s_m), 4),
                    box_dy=round(float((half - shift_y * size / scale - c[1]) / s_m), 4),
                    box_side=round(size / (scale * s_m), 4),
                    mean_shape=rounded(mean_shape))


def rounded(shape):
    """A (15, 2) shape as the crop rule stores it: tuples, to 0.01 px."""
    return tuple(tuple(round(float(v), 2) for v in row) for row in shape)


def load_landmark_folder(root, rule=CropRule(), detector=None, cache_dir=None, tracker_crops=False):
    """Crops made as the tracker makes them: Haar box, else a stand-in box from the labels.

    With `tracker_crops`, a face the detector found also gives a second crop, framed from its
    keypoints as the tracker frames a face between detections (`CropRule.box_from_keypoints`):
    the two framings differ by about a pixel in place and a few percent in size, and a model
    trained on Haar crops alone loses accuracy on every tracked frame.
    """
    names, pts = read_landmark_folder(root)
    k15 = from_68(pts)
    detector = detector or HaarDetector()
    # the boxes alone, keyed on the data and the detector's settings: a retuned detector re-detects
    key = hashlib.sha1(json.dumps([os.path.abspath(root), os.path.getmtime(os.path.join(root, "landmarks.csv")),
                                   len(names), detector.settings, LANDMARK_ORIGIN]).encode()).hexdigest()[:12]
    cache = os.path.join(cache_dir, f"faces-{key}.npz") if cache_dir else None
    boxes = None
    if cache and os.path.isfile(cache):
        try:
            with np.load(cache) as z:
                boxes = z["boxes"]
            if boxes.shape != (len(names), 4):
                raise ValueError(f"boxes of shape {boxes.shape}")
        except (OSError, ValueError, KeyError) as e:   # a damaged cache is only lost time: detect again
            log.warning("%s: damaged data cache (%s); detecting the faces again", cache, e)
            os.remove(cache)
            boxes = None
    if boxes is None:
        boxes = detect_faces(root, names, k15, detector)
    detected = ~np.isnan(boxes[:, 0])
    first, second, again = [], [], []   # again: the photos that gave a second crop
    for i, name in enumerate(names):
        gray = cv2.imread(os.path.join(root, "images", name), cv2.IMREAD_GRAYSCALE)
        framings = [(first, boxes[i] if detected[i] else rule.box_from_keypoints(k15[i]))]
        if tracker_crops and detected[i]:   # a stand-in is a keypoint box already
            again.append(i)
            framings.append((second, rule.box_from_keypoints(k15[i])))
        for out, box in framings:
            image, m = crop(gray, box, rule)
            out.append((image, to_crop(k15[i], m)))
    if cache and not os.path.isfile(cache):
        os.makedirs(cache_dir, exist_ok=True)
        np.savez(cache + ".tmp.npz", boxes=boxes)
        os.replace(cache + ".tmp.npz", cache)
    images = np.stack([c for c, _ in first + second])
    keypoints = np.stack([k for _, k in first + second]).astype(np.float32)
    names = list(names) + [names[i] for i in again]
    detected = np.concatenate([detected, np.zeros(len(again), bool)])
    info = {"source": os.path.abspath(root), "format": "landmarks-68",
            "detected": int(detected.sum()), "stand_in_boxes": int(len(first) - detected.sum()),
            "tracker_crops": len(again)}
    return Dataset(images, keypoints, [person_of(n) for n in names], names, detected, info=info)


def load(path, rule=CropRule(), skip_bad=False, cache_dir=None, tracker_crops=False):
    """Either form of training data, by what `path` is (a Kaggle CSV's crops are as given)."""
    if os.path.isdir(path):
        return load_landmark_folder(path, rule, cache_dir=cache_dir, tracker_crops=tracker_crops)
    if os.path.isfile(path):
        return load_kaggle_csv(path, skip_bad=skip_bad)
    raise DataError(f"{path}: no such file or folder")


def split(ds, val_fraction=0.15, seed=0):
    """Train and validation indices: by person where the data names people, else by row."""
    rng = np.random.default_rng(seed)
    if ds.persons:
        people = sorted(set(ds.persons))
        rng.shuffle(people)
        n_val = max(1, round(len(people) * val_fraction))
        val_people = set(people[:n_val])
        val = np.array([p in val_people for p in ds.persons])
        how = "person"
    else:
        val = np.zeros(len(ds), bool)
        val[rng.permutation(len(ds))[:max(1, round(len(ds) * val_fraction))]] = True
        how = "row"
    return np.flatnonzero(~val), np.flatnonzero(val), {"by": how, "seed": seed,
                                                       "val_fraction": val_fraction,
                                                       "val_persons": sorted(val_people) if ds.persons else None}
