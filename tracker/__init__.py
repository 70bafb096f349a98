"""fkd: the 15 Kaggle facial keypoints on every face of a camera, video or photo, on LiteRT alone.

    import fkd

    with fkd.FaceTracker(fkd.TrackerOptions(mode="video")) as tracker:
        for face in tracker.process(frame):          # a BGR uint8 numpy array
            face.box, face.keypoints                 # (15, 2), rows in fkd.KEYPOINT_NAMES

Training (fkd.train) needs the `fkd[train]` extra; nothing here imports TensorFlow.
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import DataError, DetectorError, FkdError, ModelError, OptionError, OutputError, RunError, SourceError
from .facetracker import Face, FaceTracker, default_models_dir
from .keypoints import NAMES as KEYPOINT_NAMES
from .options import TrackerOptions

try:
    __version__ = version("fkd")
except PackageNotFoundError:   # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Face", "FaceTracker", "TrackerOptions", "KEYPOINT_NAMES", "FkdError", "OptionError", "ModelError",
           "DetectorError", "SourceError", "OutputError", "DataError", "RunError", "default_models_dir",
           "__version__"]
