"""Drawing the 15 points: subject's left in red, right in blue, midline in green (BGR)."""

import cv2

from .keypoints import NAMES

COLORS = [(0, 0, 255) if "left" in n else (255, 128, 0) if "right" in n else (0, 220, 0) for n in NAMES]


def draw_faces(frame, faces, fps=None, boxes=True):
    """Draws in place on a BGR frame and returns it."""
    h = frame.shape[0]
    r = max(2, round(h / 240))
    for face in faces:
        if boxes:
            x, y, w, bh = (int(round(v)) for v in face.box)
            cv2.rectangle(frame, (x, y), (x + w, y + bh), (200, 200, 200), 1, cv2.LINE_AA)
        for (px, py), color in zip(face.keypoints, COLORS):
            cv2.circle(frame, (int(round(px)), int(round(py))), r, color, -1, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(frame, f"{fps:5.1f} fps", (8, 8 + 12 * r), cv2.FONT_HERSHEY_SIMPLEX, 0.25 * r,
                    (0, 255, 255), max(1, r // 2), cv2.LINE_AA)
    return frame
