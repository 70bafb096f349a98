"""Head pose, live: each face's yaw, pitch and roll drawn as axes from its nose tip.

    python examples/head_pose.py                      # the demo clip -> head-pose.mp4
    python examples/head_pose.py --camera 0 --show    # a camera, in a window (q quits)
"""

import cv2

import fkd
from fkd.draw import draw_faces

from common import frames, parser, writer

ap = parser(__doc__.splitlines()[0])
ap.add_argument("--out", default="head-pose.mp4")
ap.add_argument("--show", action="store_true")
args = ap.parse_args()

out = None
with fkd.FaceTracker(fkd.TrackerOptions(mode="video")) as tracker:
    for i, ms, frame in frames(args):
        faces = tracker.process(frame, timestamp_ms=ms)
        draw_faces(frame, faces, pose=True)
        for face in faces:
            print(f"frame {i}: face {face.track_id} yaw {face.pose.yaw:+.1f} pitch {face.pose.pitch:+.1f} "
                  f"roll {face.pose.roll:+.1f}")
        out = out or writer(args.out, frame)
        out.write(frame)
        if args.show:
            cv2.imshow("fkd head pose", frame)
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
if out:
    out.release()
    print(f"wrote {args.out}")
