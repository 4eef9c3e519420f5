"""Plane geometry for rules: point-in-polygon, side of a line, segment crossing.

All coordinates are frame pixels, x to the right and y DOWN (OpenCV/image convention).
Functions are pure and vectorised over points; they never modify their inputs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "points_in_polygon",
    "segment_param",
    "segments_intersect",
    "signed_distance",
]

FloatArray = npt.NDArray[np.float64]


def _points(points: npt.ArrayLike) -> FloatArray:
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0:
        return np.zeros((0, 2), np.float64)
    return p.reshape(-1, 2)


def points_in_polygon(points: npt.ArrayLike, polygon: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Which points lie inside a simple or self-intersecting polygon (even-odd rule).

    Args:
        points: (N, 2) x, y in frame pixels.
        polygon: (M, 2) vertices in frame pixels, M >= 3, open (the last vertex joins the first).

    Returns:
        (N,) bool. Points exactly on an edge may fall on either side; rules debounce that away.
    """
    p = _points(points)
    poly = _points(polygon)
    if len(poly) < 3:
        raise ValueError(f"a polygon needs at least 3 vertices, got {len(poly)}")
    if len(p) == 0:
        return np.zeros((0,), bool)
    x = p[:, 0:1]  # (N, 1)
    y = p[:, 1:2]
    x1, y1 = poly[:, 0], poly[:, 1]  # (M,)
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    # Ray casting to +x: an edge counts when it straddles the point's y and its crossing is right of x.
    straddles = (y1 > y) != (y2 > y)  # (N, M)
    dy = np.where(y2 == y1, 1.0, y2 - y1)
    x_cross = x1 + (y - y1) * (x2 - x1) / dy
    hits = straddles & (x < x_cross)
    return np.asarray(np.count_nonzero(hits, axis=1) % 2 == 1)


def signed_distance(points: npt.ArrayLike, start: npt.ArrayLike, end: npt.ArrayLike) -> FloatArray:
    """Signed distance (pixels) of points from the infinite line through start -> end.

    Positive = to the RIGHT of the direction start -> end as seen on screen (y down), negative = left.
    E.g. for a line from (0, 0) to (10, 0), the point (5, 3) (below it on screen) is at +3.

    Args:
        points: (N, 2) frame pixels. start, end: (2,) frame pixels, distinct.

    Returns:
        (N,) float64 pixels.
    """
    p = _points(points)
    s = np.asarray(start, np.float64)
    e = np.asarray(end, np.float64)
    d = e - s
    norm = float(np.hypot(d[0], d[1]))
    if norm == 0:
        raise ValueError("line start and end must differ")
    rel = p - s
    return np.asarray((d[0] * rel[:, 1] - d[1] * rel[:, 0]) / norm)


def segment_param(points: npt.ArrayLike, start: npt.ArrayLike, end: npt.ArrayLike) -> FloatArray:
    """Position of each point's projection along start -> end: 0 at start, 1 at end (N,)."""
    p = _points(points)
    s = np.asarray(start, np.float64)
    d = np.asarray(end, np.float64) - s
    return np.asarray(((p - s) @ d) / float(d @ d))


def segments_intersect(
    a0: npt.ArrayLike, a1: npt.ArrayLike, b0: npt.ArrayLike, b1: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """Whether segments a0->a1 (N of them) and the single segment b0->b1 intersect.

    Touching at an end point counts as an intersection (a track stepping exactly onto a line
    end has reached the segment).

    Args:
        a0, a1: (N, 2) segment ends in frame pixels (e.g. previous and current anchor of N tracks).
        b0, b1: (2,) the other segment's ends.

    Returns:
        (N,) bool.
    """
    p0, p1 = _points(a0), _points(a1)
    q0, q1 = np.asarray(b0, np.float64), np.asarray(b1, np.float64)

    def orient(a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
        # z of (b - a) x (c - a), broadcast over rows.
        return np.asarray(
            (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
            - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
        )

    qa = np.broadcast_to(q0, p0.shape)
    qb = np.broadcast_to(q1, p0.shape)
    o1 = orient(p0, p1, qa)
    o2 = orient(p0, p1, qb)
    o3 = orient(qa, qb, p0)
    o4 = orient(qa, qb, p1)
    proper = (np.sign(o1) * np.sign(o2) <= 0) & (np.sign(o3) * np.sign(o4) <= 0)
    # Collinear segments satisfy the sign test trivially; require overlapping extents for them.
    collinear = (o1 == 0) & (o2 == 0)
    if np.any(collinear):
        lo_p, hi_p = np.minimum(p0, p1), np.maximum(p0, p1)
        lo_q, hi_q = np.minimum(q0, q1), np.maximum(q0, q1)
        overlap = np.all((lo_p <= hi_q) & (lo_q <= hi_p), axis=1)
        proper = np.where(collinear, overlap, proper)
    return np.asarray(proper)
