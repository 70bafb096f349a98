"""A simple AR overlay: glasses placed, scaled and turned by the eye points, a moustache by the mouth's.

    python examples/ar_overlay.py                      # the demo clip -> ar-overlay.mp4
    python examples/ar_overlay.py --camera 0 --show
"""

import cv2
import numpy as np

import fkd

from common import Output, frames, parser

P = {name: i for i, name in enumerate(fkd.KEYPOINT_NAMES)}


def face_frame(kp):
    """Origin between the eyes, unit vectors along and across the eye line, and the eye distance."""
    left, right = kp[P["left_eye_center"]], kp[P["right_eye_center"]]
    along = left - right
    iod = float(np.hypot(*along))
    along = along / iod
    return (left + right) / 2, along, np.array([-along[1], along[0]]), iod


def glasses(frame, kp):
    mid, along, across, iod = face_frame(kp)
    angle = float(np.degrees(np.arctan2(along[1], along[0])))
    for eye in (kp[P["left_eye_center"]], kp[P["right_eye_center"]]):
        centre = tuple(int(v) for v in eye)
        axes = (int(0.42 * iod), int(0.32 * iod))
        cv2.ellipse(frame, centre, axes, angle, 0, 360, (20, 20, 20), max(2, int(0.07 * iod)), cv2.LINE_AA)
    bridge = [mid - 0.08 * iod * along, mid + 0.08 * iod * along]
    cv2.line(frame, *(tuple(int(v) for v in p) for p in bridge), (20, 20, 20), max(2, int(0.06 * iod)), cv2.LINE_AA)
    for eye, sign in ((kp[P["left_eye_center"]], 1), (kp[P["right_eye_center"]], -1)):   # the temples
        a = eye + sign * 0.42 * iod * along
        cv2.line(frame, tuple(int(v) for v in a), tuple(int(v) for v in a + sign * 0.35 * iod * along - 0.05 * iod * across),
                 (20, 20, 20), max(2, int(0.05 * iod)), cv2.LINE_AA)


def moustache(frame, kp):
    _, along, across, iod = face_frame(kp)
    left, right = kp[P["mouth_left_corner"]], kp[P["mouth_right_corner"]]
    top, nose = kp[P["mouth_center_top_lip"]], kp[P["nose_tip"]]
    centre = 0.6 * top + 0.4 * nose
    width = np.hypot(*(left - right)) * 0.65
    pts = []
    for t in np.linspace(-1, 1, 25):   # a curled bar: thick in the middle, tips raised
        pts.append(centre + t * width * along + (0.08 * iod * (1 - t * t) - 0.12 * iod * t ** 4) * across)
    for t in np.linspace(1, -1, 25):
        pts.append(centre + t * width * along - (0.06 * iod * (1 - t * t) + 0.10 * iod * t ** 4) * across)
    cv2.fillPoly(frame, [np.round(pts).astype(np.int32)], (30, 40, 60), cv2.LINE_AA)


args = parser(__doc__.splitlines()[0], out="ar-overlay.mp4").parse_args()
out = Output(args, "fkd AR overlay")
with fkd.FaceTracker(fkd.TrackerOptions(mode="video")) as tracker:
    for i, ms, frame in frames(args):
        for face in tracker.process(frame, timestamp_ms=ms):
            glasses(frame, face.keypoints)
            moustache(frame, face.keypoints)
        if out(frame):
            break
out.close()
