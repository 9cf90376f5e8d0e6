"""Head pose and planar-motion measures from the five MTCNN landmarks (no extra model).

Coordinates are the image's: "left" means the nose moves towards the image's left edge.
"""

from __future__ import annotations

import numpy as np

from perception.protocols import Face


def head_pose(face: Face) -> tuple[float, float]:
    """(yaw, pitch) as landmark ratios: yaw is the nose's horizontal offset from the eyes' midpoint
    in inter-ocular distances (negative = towards image left); pitch is where the nose sits
    between the eye line (0) and the mouth line (1) — larger means the head is tilted down."""
    left_eye, right_eye, nose, left_mouth, right_mouth = np.asarray(face.landmarks, np.float64)
    eyes = (left_eye + right_eye) / 2
    mouth = (left_mouth + right_mouth) / 2
    iod = max(float(np.linalg.norm(right_eye - left_eye)), 1e-6)
    yaw = float(nose[0] - eyes[0]) / iod
    pitch = float(nose[1] - eyes[1]) / max(float(mouth[1] - eyes[1]), 1e-6)
    return yaw, pitch


def interocular(face: Face) -> float:
    return max(float(np.linalg.norm(face.landmarks[1] - face.landmarks[0])), 1e-6)


def nose_parallax(reference: Face, other: Face) -> float:
    """How far the nose departs from a flat plane: the homography fixed by eyes and mouth corners
    of `reference` → `other` predicts where a nose printed on that plane would be; the distance to
    the observed nose, in inter-ocular distances. A photo or screen moved as a plane keeps this near
    landmark noise; a real head turning or nodding moves the protruding nose off the plane."""
    import cv2

    corners = [0, 1, 3, 4]
    src = np.asarray(reference.landmarks, np.float64)
    dst = np.asarray(other.landmarks, np.float64)
    h = cv2.getPerspectiveTransform(src[corners].astype(np.float32), dst[corners].astype(np.float32))
    p = h @ np.array([src[2, 0], src[2, 1], 1.0])
    if abs(p[2]) < 1e-9:
        return float("inf")
    predicted = p[:2] / p[2]
    return float(np.linalg.norm(predicted - dst[2])) / interocular(other)
