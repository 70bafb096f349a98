"""One tracked face's state between frames, and the box geometry the tracker decides with.

Boxes are (x, y, w, h) arrays in frame pixels. A track's speed is in pixels per time unit: seconds
where the caller gives timestamps, frames where it does not.
"""

from dataclasses import dataclass, field

import numpy as np

from .confidence import running
from .crop import roll
from .smoothing import ShapePoseSmoother

# a crop whose points place the face this far from where it was expected (box sides), or this much
# larger or smaller, no longer holds that face: the track is lost
LOST_SHIFT = 0.5
LOST_SIDE_RATIO = (0.6, 1.6)
# a detection that overlaps a track this much (IoU) is that track's face
SAME_FACE_IOU = 0.3
# an unmatched track that covers this share of a detection (of the smaller box) is a drifted copy of it
DRIFTED_COPY_OVERLAP = 0.5


def iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def centre(box):
    return box[:2] + box[2:] / 2


def moved(a, b):
    """How far box `a` is from box `b`: the larger of the centre shift and the change of side, in b's sides."""
    return max(np.hypot(*(centre(a) - centre(b))), abs(a[2] - b[2])) / b[2]


def overlap(a, b):
    """Intersection over the smaller box."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (min(a[2] * a[3], b[2] * b[3]) + 1e-9)


@dataclass
class Track:
    box: np.ndarray                      # where the next crop is made from (before the predicted step)
    score: float                         # the score of the detection that started or last restarted it
    track_id: int
    smoother: ShapePoseSmoother = None
    missed: int = 0                      # detector rounds in a row that did not see it
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))   # box centre, px per time unit
    # the box the points placed when `box` was last set: `box` itself, or for a detector's box (framed
    # otherwise) the box its first points place; None until then
    key_box: np.ndarray = None
    angle: float = 0.0                   # radians: the crop turns the face's roll, as its points had it, upright
    last_roll: float = None              # the roll of the last frame's points (the other view)
    doubted: bool = False                # its points strayed (TrackerOptions.doubt): the detector looks again
    frames: int = 0                      # frames answered
    uncertainty: np.ndarray = None       # (15,) Kaggle-scale px, running (fkd.confidence)
    # (2, 15, 2): the last answer in each view (plain, mirrored), after the stages that follow the
    # models, carried by optical flow to the last frame; nan where not answered since the detector restarted it
    views: np.ndarray = None
    # this frame's working state, set by the phases of FaceTracker's video mode in turn
    fresh: bool = True                   # its box is a detector's, not yet placed by points
    step: np.ndarray = None              # the predicted move since the last frame (x, y, 0, 0)
    crop_box: np.ndarray = None          # the box this frame's crop was made from
    expected: np.ndarray = None          # where this frame's points should place the box if the face is as predicted
    new_box: np.ndarray = None           # where they did place it
    recropped: bool = False              # cropped a second time this frame

    def restart(self, box):
        """From a detector's box (no drift): the points of its next crop place its key box anew."""
        self.box, self.key_box = np.asarray(box, float), None

    def predict(self, dt):
        """Where the face is now, at constant speed: the models' answers lag a moving face a little, and
        without the guess the lag adds up between detections (a detector's box is where the face is)."""
        self.fresh = self.key_box is None
        self.step = np.zeros(4) if self.fresh else np.r_[self.velocity * dt, 0.0, 0.0]
        self.crop_box = self.box + self.step
        self.recropped = False

    def place(self, new_box):
        """Where this frame's points place the box; a detector's box is framed unlike the points', so
        on its first crop the points' box becomes its key."""
        if self.fresh:
            self.key_box = new_box
        self.expected = self.key_box + self.step
        self.new_box = new_box

    def shift(self):
        """How far the points moved the face within its crop, in box sides."""
        return np.hypot(*(centre(self.new_box) - centre(self.expected))) / self.expected[2]

    def recrop(self, new_box):
        """The crop made again where the points said (`crop_box`), and the box its points place."""
        self.crop_box = self.expected = self.new_box
        self.new_box, self.recropped = new_box, True

    def answered(self, points, mirrored, both=False):
        """Keeps the models' answer in this view (in both, for a first frame's crops of both views);
        returns the mean of both views' last answers, as known."""
        if self.views is None:
            self.views = np.full((2,) + points.shape, np.nan)
        if both:
            self.views[:] = points
        else:
            self.views[int(mirrored)] = points
        return np.nanmean(self.views, axis=0)

    def lost(self, frame_shape):
        """The points no longer describe a face where we looked."""
        h, w = frame_shape[:2]
        cx, cy = centre(self.new_box)
        ratio = self.new_box[2] / self.expected[2]
        return not (LOST_SIDE_RATIO[0] < ratio < LOST_SIDE_RATIO[1] and self.shift() < LOST_SHIFT
                    and 0 <= cx < w and 0 <= cy < h)

    def smooth(self, points, shape_alpha, steady=0.0):
        """This frame's points through the track's smoother, and how far they strayed from it (RMS, in
        eye distances of the smoothed face)."""
        self.smoother = self.smoother or ShapePoseSmoother(shape_alpha, steady)
        shown = self.smoother(points).astype(np.float32)
        if self.frames:   # the first frame's comes from its three crops
            self.uncertainty = running(self.uncertainty, points, shown)
        stray = np.sqrt(((points - shown) ** 2).sum(axis=1).mean()) / np.linalg.norm(shown[0] - shown[1])
        return shown, stray

    def update(self, points, hold, dt):
        """The next frame's box, speed and turn from this frame's points (after the stages, unsmoothed)."""
        if moved(self.new_box, self.key_box) >= hold or self.recropped:
            # of the centre: a box that grows or shrinks moves its corner while the face stays put; not
            # from a first frame, whose answer (three crops) differs from the next frames' by more
            self.velocity = (centre(self.new_box) - centre(self.key_box)) / dt if self.frames > 1 else np.zeros(2)
            self.box = self.key_box = self.new_box
        elif not self.fresh:   # held; a detection keeps the speed measured before
            self.velocity = np.zeros(2)
        # the roll of this frame's and the last frame's points, which average both views (the smoothed
        # points lag a turning face by several frames); the crop turns when it moved the middles of its
        # sides by `hold`
        this_roll = roll(points)
        angle = this_roll if self.last_roll is None else (this_roll + self.last_roll) / 2
        self.last_roll = this_roll
        self.frames += 1
        if abs(angle - self.angle) / 2 >= hold:
            self.angle = angle
