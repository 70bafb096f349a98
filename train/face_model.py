"""Where fkd.pose's 3-D face comes from: MediaPipe's canonical face model (Apache-2.0), at the 15 points.

    python -m fkd.train.face_model ../shared/models/mediapipe/face_landmarker.task

The FaceLandmarker bundle holds the canonical mesh (468 vertices, centimetres, y up, z towards the
viewer) in its geometry metadata. Each keypoint takes the vertex MediaPipe users take for it, the eye
centres the mean of the six eye-contour vertices; the result is printed in fkd's camera-like frame
(x to the image's right, y down, z away from the camera), for FACE_3D in tracker/pose.py.
"""

import sys
import zipfile

import numpy as np

from ..keypoints import NAMES

METADATA = "geometry_pipeline_metadata_landmarks.binarypb"
VERTICES = {
    "left_eye_center": (362, 385, 387, 263, 373, 380), "right_eye_center": (33, 160, 158, 133, 153, 144),
    "left_eye_inner_corner": 362, "left_eye_outer_corner": 263, "right_eye_inner_corner": 133,
    "right_eye_outer_corner": 33, "left_eyebrow_inner_end": 285, "left_eyebrow_outer_end": 300,
    "right_eyebrow_inner_end": 55, "right_eyebrow_outer_end": 70, "nose_tip": 1, "mouth_left_corner": 291,
    "mouth_right_corner": 61, "mouth_center_top_lip": 0, "mouth_center_bottom_lip": 17,
}


def _varint(b, i):
    value = shift = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def _fields(b):
    """(field number, value) of a protobuf message: the wire format, so no generated module is needed."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, i = _varint(b, i)
        elif kind == 2:
            n, i = _varint(b, i)
            value, i = b[i:i + n], i + n
        elif kind == 5:
            value, i = b[i:i + 4], i + 4
        elif kind == 1:
            value, i = b[i:i + 8], i + 8
        else:
            raise ValueError(f"unknown protobuf wire type {kind}")
        yield number, value


def canonical_mesh(task_path):
    """(468, 3) canonical vertices, MediaPipe's frame: the vertex buffer (x, y, z, u, v) of the mesh in field 1."""
    meta = zipfile.ZipFile(task_path).read(METADATA)
    mesh = next(v for n, v in _fields(meta) if n == 1)
    floats = []
    for n, v in _fields(mesh):
        if n == 3:   # vertex_buffer, one float a field or packed
            floats.extend(np.frombuffer(v, "<f4"))
    return np.asarray(floats, np.float64).reshape(-1, 5)[:, :3]


def face_15(vertices):
    pts = np.array([vertices[list(v)].mean(axis=0) if isinstance(v, tuple) else vertices[v]
                    for v in (VERTICES[n] for n in NAMES)])
    return pts * [1, -1, -1]   # y down, z away from the camera


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.splitlines()[2].strip())
    for name, p in zip(NAMES, face_15(canonical_mesh(sys.argv[1]))):
        print(f"    ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}),   # {name}")
