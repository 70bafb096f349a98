"""Head pose from the 15 points: cv2.solvePnP against a 3-D face, as yaw, pitch and roll in degrees.

Conventions, in the camera's frame (x to the image's right, y down, z forward, away from the camera):
yaw is positive when the face turns towards the image's right, pitch when the chin goes down, roll when
the face tilts clockwise in the image; a face looking straight into the camera, upright, is (0, 0, 0).
Yaw and pitch are those of the face's normal (out of the face, through the nose), roll that of the
line from its right eye to its left. The camera is assumed a pinhole with its focal length the frame's
width (a field of view of about 53 degrees across) and its centre the frame's, without distortion: a
wider or narrower lens moves the angles of faces off the middle a little, not those of a centred face.
"""

from dataclasses import dataclass

import cv2
import numpy as np

# the 15 points of MediaPipe's canonical face model (Apache-2.0), cm, in the frame above, rows in
# fkd.KEYPOINT_NAMES order: `python -m fkd.train.face_model ../shared/models/mediapipe/face_landmarker.task`
FACE_3D = np.array([
    (3.182, -2.636, -3.657), (-3.182, -2.636, -3.657), (1.856, -2.585, -3.758), (4.446, -2.664, -3.173),
    (-1.856, -2.585, -3.758), (-4.446, -2.664, -3.173), (1.221, -4.142, -5.106), (5.721, -4.255, -2.831),
    (-1.221, -4.142, -5.106), (-5.721, -4.255, -2.831), (0.000, 1.127, -7.476), (2.456, 4.343, -4.284),
    (-2.456, 4.343, -4.284), (0.000, 3.406, -5.980), (0.000, 5.365, -5.535)])


# beyond these the face is turned further than most training faces were (the training persons' true
# points: 95th percentiles of |yaw| 32 and of |pitch| 23 degrees, benchmarks/detectors.py), and the
# models' answer tends to a frontal shape: Face.turned says so
TURNED_YAW, TURNED_PITCH = 30.0, 23.0


@dataclass
class Pose:
    yaw: float                 # degrees, positive towards the image's right
    pitch: float               # degrees, positive chin down
    roll: float                # degrees, positive clockwise in the image
    rvec: np.ndarray = None    # the face model's rotation (Rodrigues) and translation (cm) in the camera
    tvec: np.ndarray = None

    @property
    def turned(self):
        """Turned further than the models were trained for (TURNED_YAW, TURNED_PITCH)."""
        return abs(self.yaw) > TURNED_YAW or abs(self.pitch) > TURNED_PITCH

    def to_json(self):
        return {"yaw": round(self.yaw, 1), "pitch": round(self.pitch, 1), "roll": round(self.roll, 1),
                "turned": self.turned}


def camera(frame_shape):
    h, w = frame_shape[:2]
    return np.array([[w, 0.0, (w - 1) / 2.0], [0.0, w, (h - 1) / 2.0], [0.0, 0.0, 1.0]])


def angles(rotation):
    """(yaw, pitch, roll) in degrees of a 3x3 rotation taking the face model into the camera's frame."""
    normal = rotation @ np.array([0.0, 0.0, -1.0])   # out of the face, towards the camera when frontal
    yaw = np.degrees(np.arctan2(normal[0], -normal[2]))
    pitch = np.degrees(np.arcsin(np.clip(normal[1], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return float(yaw), float(pitch), float(roll)


def head_pose(points, frame_shape):
    """The Pose of a face's (15, 2) frame-pixel points, or None where solvePnP finds none."""
    pts = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 1, 2)
    ok, rvec, tvec = cv2.solvePnP(FACE_3D, pts, camera(frame_shape), None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or tvec[2, 0] <= 0:   # behind the camera: no face
        return None
    return Pose(*angles(cv2.Rodrigues(rvec)[0]), rvec=rvec.ravel(), tvec=tvec.ravel())


def project(points_3d, pose, frame_shape):
    """(n, 2) frame pixels of (n, 3) face-model points under a pose: for drawing its axes."""
    out, _ = cv2.projectPoints(np.asarray(points_3d, np.float64), pose.rvec, pose.tvec, camera(frame_shape), None)
    return out.reshape(-1, 2)
