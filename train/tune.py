"""Where the Haar detector's defaults and the crop rule's numbers come from.

    python -m fkd.train.tune ../shared/data/youtube-faces-68 [--every 5] [--mediapipe-model blaze_face.tflite] [--blazeface]

Prints, for a few detector settings, the share of true faces found and the
false boxes per image on a 68-landmark folder; then fits the crop rule on the
default detector's boxes (`tracker.crop.CropRule` holds the result), and the
mean face in the crops of the default rule.
"""

import argparse
import time

import cv2
import numpy as np

from ..crop import CropRule
from ..detectors import HaarDetector
from ..keypoints import from_68
from .data import detect_faces, fit_crop_rule, match_detection, mean_face, read_landmark_folder, rounded

CANDIDATES = [
    {},
    {"equalize": True},
    {"min_size": 24},
    {"min_neighbors": 3},
    {"upscale": False},
    {"scale_factor": 1.05, "min_neighbors": 6},
    {"cascade": "haarcascade_frontalface_alt2.xml", "min_neighbors": 3},
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--every", type=int, default=5, help="Detector comparison on every Nth image.")
    ap.add_argument("--mediapipe-model", default=None, help="Also fit BlazeFace boxes to Haar framing.")
    ap.add_argument("--blazeface", action="store_true", help="Also fit the full-range BlazeFace's boxes to Haar framing.")
    a = ap.parse_args()
    names, pts = read_landmark_folder(a.data)
    k15 = from_68(pts)
    sel = np.arange(0, len(names), a.every)
    grays = [cv2.imread(f"{a.data}/images/{names[i]}", cv2.IMREAD_GRAYSCALE) for i in sel]
    for cfg in CANDIDATES:
        det, hit, false = HaarDetector(**cfg), 0, 0
        t = time.perf_counter()
        for g, i in zip(grays, sel):
            boxes, _ = det(g)
            j = match_detection(boxes, k15[i])
            hit += j is not None
            false += len(boxes) - (j is not None)
        ms = 1000 * (time.perf_counter() - t) / len(sel)
        print(f"{str(cfg or 'default'):60s} found {hit / len(sel):.3f}  false boxes/image {false / len(sel):.3f}  "
              f"{ms:.1f} ms")
    boxes = detect_faces(a.data, names, k15, HaarDetector())
    print(f"default detector on all {len(names)} images: found {np.mean(~np.isnan(boxes[:, 0])):.3f}")
    print(fit_crop_rule(boxes, k15))
    # a rule kept for the models trained with it takes a mean face fitted with its own scale and shift
    print(f"mean face under the default rule (CropRule.mean_shape): {rounded(mean_face(boxes, k15, CropRule()))}")
    if a.mediapipe_model:
        from ..detectors import MediaPipeDetector

        fit_framing(a.data, names, k15, boxes, MediaPipeDetector(a.mediapipe_model), sel)
    if a.blazeface:
        from ..detectors import BlazeFaceFullRange

        fit_framing(a.data, names, k15, boxes, BlazeFaceFullRange(), sel)


def fit_framing(root, names, k15, haar_boxes, det, sel):
    """A BlazeFace box -> a Haar-like box: side ratio and centre offsets, medians."""
    det.HAAR_SIDE, det.HAAR_DX, det.HAAR_DY = 1.0, 0.0, 0.0   # raw boxes
    found, rel = 0, []
    for i in sel:
        img = cv2.imread(f"{root}/images/{names[i]}", cv2.IMREAD_COLOR)
        b, _ = det(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), img)
        j = match_detection(b, k15[i])
        if j is None:
            continue
        found += 1
        if not np.isnan(haar_boxes[i, 0]):
            B, H = b[j], haar_boxes[i]
            rel.append([H[2] / B[2], (H[0] + H[2] / 2 - B[0] - B[2] / 2) / B[2],
                        (H[1] + H[3] / 2 - B[1] - B[3] / 2) / B[2]])
    det.close()
    side, dx, dy = np.median(rel, axis=0)
    print(f"{det.name}: found {found / len(sel):.3f}; HAAR_SIDE, HAAR_DX, HAAR_DY = {side:.3f}, {dx:.4f}, {dy:.4f}")


if __name__ == "__main__":
    main()
