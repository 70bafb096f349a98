"""Fresh augmentation of every mini-batch; labels move with their pixels.

Each image gets one homography (flip, rotation, scale, shift, perspective)
and one smooth elastic displacement field, applied in a single remap.
Keypoints are mapped forward through the same transform, and a flip swaps
left and right labels.
"""

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..keypoints import flip_permutation


@dataclass
class AugmentConfig:
    flip: bool = True
    rotation_deg: float = 15.0     # uniform +-
    scale: float = 0.10            # uniform 1 +- ; also stands in for detector box jitter
    shift_px: float = 6.0          # uniform +-
    perspective: float = 0.0015    # homography row-3 terms, uniform +-
    elastic_px: float = 2.0        # displacement amplitude (std) of a coarse 4x4 field
    contrast: float = 0.35         # gain uniform 1 +-
    brightness: float = 0.15       # offset uniform +-, in units of full range
    enabled: bool = True

    def to_dict(self):
        return asdict(self)


def homographies(n, size, cfg, rng):
    """(n, 3, 3) maps from source pixel to augmented pixel, and the flip flags."""
    c = (size - 1) / 2.0
    flips = rng.random(n) < 0.5 if cfg.flip else np.zeros(n, bool)
    a = np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg, n))
    s = 1.0 + rng.uniform(-cfg.scale, cfg.scale, n)
    t = rng.uniform(-cfg.shift_px, cfg.shift_px, (n, 2))
    p = rng.uniform(-cfg.perspective, cfg.perspective, (n, 2))
    H = np.zeros((n, 3, 3))
    fx = np.where(flips, -1.0, 1.0)
    cos, sin = np.cos(a) * s, np.sin(a) * s
    # centre -> flip -> rotate/scale -> shift -> back to corner origin
    H[:, 0, 0], H[:, 0, 1] = cos * fx, -sin
    H[:, 1, 0], H[:, 1, 1] = sin * fx, cos
    H[:, 0, 2] = c + t[:, 0] - (H[:, 0, 0] * c + H[:, 0, 1] * c)
    H[:, 1, 2] = c + t[:, 1] - (H[:, 1, 0] * c + H[:, 1, 1] * c)
    H[:, 2, 2] = 1.0
    # perspective about the centre: conjugate with the centring translation
    P = np.tile(np.eye(3), (n, 1, 1))
    P[:, 2, :2] = p
    T = np.array([[1, 0, -c], [0, 1, -c], [0, 0, 1.0]])
    Ti = np.array([[1, 0, c], [0, 1, c], [0, 0, 1.0]])
    H = Ti @ P @ T @ H
    return H, flips


def apply_h(H, pts):
    """Apply (n, 3, 3) homographies to (n, k, 2) points."""
    ph = np.concatenate([pts, np.ones(pts.shape[:-1] + (1,))], axis=-1) @ np.swapaxes(H, 1, 2)
    return ph[..., :2] / ph[..., 2:3]


def augment(images, keypoints, cfg, rng, names=None):
    """Augmented copies of uint8 (n, S, S) images and (n, k, 2) keypoints (NaN kept).

    `names` are the keypoint names of the k columns, for the left/right swap.
    Returns float32 images in [0, 1] and float32 keypoints.
    """
    n, size = images.shape[0], images.shape[1]
    x = images.astype(np.float32) / 255.0
    kp = keypoints.astype(np.float64)
    if not cfg.enabled:
        return x, kp.astype(np.float32)
    H, flips = homographies(n, size, cfg, rng)
    Hinv = np.linalg.inv(H)
    grid = np.mgrid[0:size, 0:size][::-1].astype(np.float32)      # (2, S, S): x, y
    pts = np.concatenate([grid.reshape(2, -1).T, np.ones((size * size, 1), np.float32)], axis=1)
    out = np.empty_like(x)
    new_kp = apply_h(H, kp)
    for i in range(n):
        if cfg.elastic_px > 0:
            coarse = rng.normal(0.0, cfg.elastic_px, (4, 4, 2)).astype(np.float32)
            d = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)   # (S, S, 2)
        else:
            d = np.zeros((size, size, 2), np.float32)
        # output q samples the source at Hinv(q + d(q))
        q = pts.copy()
        q[:, :2] += d.reshape(-1, 2)
        src = q @ Hinv[i].T
        src = (src[:, :2] / src[:, 2:3]).reshape(size, size, 2).astype(np.float32)
        out[i] = cv2.remap(x[i], src[..., 0], src[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        if cfg.elastic_px > 0:
            # keypoint k lands at q with q + d(q) = H k: fixed-point iterations
            t = new_kp[i]
            qk = t.copy()
            for _ in range(3):
                qk = t - bilinear(d, qk)
            new_kp[i] = qk
    if names is not None and flips.any():
        perm = flip_permutation(names)
        new_kp[flips] = new_kp[flips][:, perm]
    gain = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast, (n, 1, 1)).astype(np.float32)
    bias = rng.uniform(-cfg.brightness, cfg.brightness, (n, 1, 1)).astype(np.float32)
    mean = out.mean(axis=(1, 2), keepdims=True)
    out = np.clip((out - mean) * gain + mean + bias, 0.0, 1.0)
    return out, new_kp.astype(np.float32)


def bilinear(field, pts):
    """Sample an (S, S, 2) field at (k, 2) points (NaN points give NaN)."""
    size = field.shape[0]
    p = np.clip(np.nan_to_num(pts, nan=0.0), 0, size - 1.001)
    x0, y0 = np.floor(p[:, 0]).astype(int), np.floor(p[:, 1]).astype(int)
    fx, fy = (p[:, 0] - x0)[:, None], (p[:, 1] - y0)[:, None]
    v = (field[y0, x0] * (1 - fx) * (1 - fy) + field[y0, x0 + 1] * fx * (1 - fy)
         + field[y0 + 1, x0] * (1 - fx) * fy + field[y0 + 1, x0 + 1] * fx * fy)
    return np.where(np.isnan(pts), np.nan, v)


def preview(images, keypoints, cfg, rng, names, path, n=16):
    """A grid of augmented samples with their keypoints drawn, as PNG."""
    idx = rng.choice(len(images), size=min(n, len(images)), replace=False)
    x, kp = augment(images[idx], keypoints[idx], cfg, rng, names)
    tiles = []
    for img, pts in zip(x, kp):
        t = cv2.cvtColor((img * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        t = cv2.resize(t, (192, 192), interpolation=cv2.INTER_NEAREST)
        for j, (px, py) in enumerate(pts):
            if not np.isnan(px):
                color = (0, 0, 255) if "left" in names[j] else (255, 128, 0) if "right" in names[j] else (0, 255, 0)
                cv2.circle(t, (int(round(px * 2 + 0.5)), int(round(py * 2 + 0.5))), 3, color, -1)
        tiles.append(t)
    cols = 4
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[r:r + cols]) for r in range(0, len(tiles), cols)])
    if not cv2.imwrite(path, grid):
        raise OSError(f"cannot write {path}")
    return path
