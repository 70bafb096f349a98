"""Drawing the 15 points: subject's left in red, right in blue, midline in green (BGR)."""

import cv2
import numpy as np

from .keypoints import INDEX, NAMES
from .pose import FACE_3D, project

COLORS = [(0, 0, 255) if "left" in n else (255, 128, 0) if "right" in n else (0, 220, 0) for n in NAMES]


AXES_CM = 5.0   # the pose axes' length on the face


def draw_pose(frame, face, r=2):
    """The face's pose as axes from its nose tip (x red to the face's left, y green down, z blue into the
    face), and its angles; in place."""
    if face.pose is None:
        return frame
    nose = FACE_3D[INDEX["nose_tip"]]
    ends = project(np.vstack([nose, nose + np.eye(3) * AXES_CM]), face.pose, frame.shape)
    o = tuple(int(round(v)) for v in ends[0])
    for end, color in zip(ends[1:], ((0, 0, 255), (0, 200, 0), (255, 80, 0))):
        cv2.line(frame, o, tuple(int(round(v)) for v in end), color, max(1, r // 2 + 1), cv2.LINE_AA)
    x, y = int(face.box[0]), int(face.box[1] + face.box[3]) + 12 * r
    p = face.pose
    cv2.putText(frame, f"yaw {p.yaw:+.0f} pitch {p.pitch:+.0f} roll {p.roll:+.0f}", (x, y), cv2.FONT_HERSHEY_SIMPLEX,
                0.2 * r, (0, 255, 255), max(1, r // 2), cv2.LINE_AA)
    return frame


def draw_faces(frame, faces, fps=None, boxes=True, pose=False):
    """Draws in place on a BGR frame and returns it; `pose` adds each face's pose axes and angles."""
    h = frame.shape[0]
    r = max(2, round(h / 240))
    for face in faces:
        if boxes:
            x, y, w, bh = (int(round(v)) for v in face.box)
            cv2.rectangle(frame, (x, y), (x + w, y + bh), (200, 200, 200), 1, cv2.LINE_AA)
        for (px, py), color in zip(face.keypoints, COLORS):
            cv2.circle(frame, (int(round(px)), int(round(py))), r, color, -1, cv2.LINE_AA)
        if pose:
            draw_pose(frame, face, r)
    if fps is not None:
        cv2.putText(frame, f"{fps:5.1f} fps", (8, 8 + 12 * r), cv2.FONT_HERSHEY_SIMPLEX, 0.25 * r,
                    (0, 255, 255), max(1, r // 2), cv2.LINE_AA)
    return frame
