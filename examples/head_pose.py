"""Head pose, live: each face's yaw, pitch and roll drawn as axes from its nose tip.

    python examples/head_pose.py                      # the demo clip -> head-pose.mp4
    python examples/head_pose.py --camera 0 --show    # a camera, in a window (q quits)
"""

import fkd
from fkd.draw import draw_faces

from common import Output, frames, parser

args = parser(__doc__.splitlines()[0], out="head-pose.mp4").parse_args()
out = Output(args, "fkd head pose")
with fkd.FaceTracker(fkd.TrackerOptions(mode="video")) as tracker:
    for i, ms, frame in frames(args):
        faces = tracker.process(frame, timestamp_ms=ms)
        draw_faces(frame, faces, pose=True)
        for face in faces:
            print(f"frame {i}: face {face.track_id} yaw {face.pose.yaw:+.1f} pitch {face.pose.pitch:+.1f} "
                  f"roll {face.pose.roll:+.1f}")
        if out(frame):
            break
out.close()
