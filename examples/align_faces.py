"""Aligned face crops, the usual pre-processing for face recognition: eyes level, at a fixed distance.

    python examples/align_faces.py                          # every 15th frame of the demo clip -> aligned/
    python examples/align_faces.py --images photos/ --out aligned/
    python examples/align_faces.py --camera 0 --frames 100

Each face's eye centres, nose tip and mouth corners are fitted by a similarity (rotation, scale, shift)
to the 5-point template of 112x112 crops that ArcFace-style recognisers expect, and the crop is warped.
"""

import glob
import os

import cv2
import numpy as np

import fkd

from common import frames, parser

P = {name: i for i, name in enumerate(fkd.KEYPOINT_NAMES)}
FIVE = [P[n] for n in ("left_eye_center", "right_eye_center", "nose_tip", "mouth_left_corner", "mouth_right_corner")]
# where those go in a 112x112 crop (the subject's left eye on the image's right)
TEMPLATE = np.array([[73.53, 51.50], [38.29, 51.70], [56.03, 71.74], [70.73, 92.20], [41.55, 92.37]])
SIZE = 112


def aligned(frame, keypoints):
    m, _ = cv2.estimateAffinePartial2D(keypoints[FIVE], TEMPLATE, method=cv2.LMEDS)
    return cv2.warpAffine(frame, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


ap = parser(__doc__.splitlines()[0])
ap.add_argument("--images", default=None, help="a folder of photos instead of a video")
ap.add_argument("--every", type=int, default=15, help="video: every Nth frame")
ap.add_argument("--out", default="aligned")
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)

if args.images:
    paths = sorted(glob.glob(os.path.join(args.images, "*")))
    sources = ((os.path.splitext(os.path.basename(p))[0], cv2.imread(p)) for p in paths)
else:
    sources = ((f"frame{i:05d}", f) for i, _, f in frames(args) if i % args.every == 0)
written = 0
with fkd.FaceTracker(fkd.TrackerOptions(mode="image")) as tracker:   # each photo or picked frame on its own
    for name, frame in sources:
        if frame is None:
            continue
        for k, face in enumerate(tracker.process(frame)):
            path = os.path.join(args.out, f"{name}-face{k}.png")
            cv2.imwrite(path, aligned(frame, face.keypoints))
            written += 1
print(f"wrote {written} aligned crops to {args.out}")
