"""Vectorised 2-D geometry for counting: signed distance to a polyline or polygon, segment crossings."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def _cross2(a: Array, b: Array) -> Array:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def nearest_segment(points: Array, starts: Array, ends: Array) -> tuple[Array, Array, np.ndarray]:
    """For points (n, 2) and segments (s, 2)->(s, 2): distance (n,), side cross product (n,), nearest index (n,)."""
    d = ends - starts  # (s, 2)
    rel = points[:, None, :] - starts[None, :, :]  # (n, s, 2)
    t = np.minimum(np.maximum(np.einsum("nsk,sk->ns", rel, d) / np.einsum("sk,sk->s", d, d), 0.0), 1.0)
    gap = rel - t[..., None] * d[None]
    dist = np.hypot(gap[..., 0], gap[..., 1])
    nearest = np.argmin(dist, axis=1) if len(starts) else np.zeros(len(points), np.int64)
    rows = np.arange(len(points))
    return dist[rows, nearest], _cross2(d[nearest], rel[rows, nearest]), nearest


def polyline_signed_distance(points: Array, line: Array) -> Array:
    """Signed distance of points (n, 2) to an open polyline (k, 2): positive on the right of its direction on screen.

    Image y points down, so a positive cross product ``(B - A) x (P - A)`` is the right-hand side of ``A -> B``.
    """
    dist, side, _ = nearest_segment(points, line[:-1], line[1:])
    return np.where(side >= 0, dist, -dist)


def inside_polygon(points: Array, polygon: Array) -> np.ndarray:
    """Even-odd rule point-in-polygon for points (n, 2) and a polygon (k, 2): bool (n,)."""
    return inside_edges(points, *polygon_edges(polygon))


def inside_edges(points: Array, starts: Array, ends: Array) -> np.ndarray:
    """Even-odd rule point-in-polygon for points (n, 2) and a polygon's edges ``starts`` -> ``ends``: bool (n,)."""
    a, b = starts, ends
    px, py = points[:, 0:1], points[:, 1:2]
    straddles = (a[None, :, 1] > py) != (b[None, :, 1] > py)
    dy = np.where(b[:, 1] == a[:, 1], 1.0, b[:, 1] - a[:, 1])
    x_at = a[None, :, 0] + (py - a[None, :, 1]) * (b[None, :, 0] - a[None, :, 0]) / dy[None, :]
    return np.asarray(np.count_nonzero(straddles & (px < x_at), axis=1) % 2 == 1)


def polygon_edges(polygon: Array) -> tuple[Array, Array]:
    """Edges of a closed polygon (k, 2) as ``starts``, ``ends`` (k, 2) each."""
    return polygon, np.roll(polygon, -1, axis=0)


def polygon_signed_distance(points: Array, starts: Array, ends: Array) -> Array:
    """Signed distance of points (n, 2) to a polygon's border given by its edges: positive inside."""
    dist, _, _ = nearest_segment(points, starts, ends)
    return np.where(inside_edges(points, starts, ends), dist, -dist)


def segments_intersect(p1: Array, p2: Array, q1: Array, q2: Array) -> np.ndarray:
    """Whether segments p1-p2 and q1-q2 intersect (broadcasting; touching counts, collinear overlap does not)."""
    d1, d2 = _cross2(q2 - q1, p1 - q1), _cross2(q2 - q1, p2 - q1)
    d3, d4 = _cross2(p2 - p1, q1 - p1), _cross2(p2 - p1, q2 - p1)
    return np.asarray((d1 * d2 <= 0) & (d3 * d4 <= 0) & ~((d1 == 0) & (d2 == 0)))


def paths_cross_polyline(starts: Array, ends: Array, line: Array) -> np.ndarray:
    """Whether each path start (n, 2) -> end (n, 2) intersects any segment of the polyline (k, 2): bool (n,)."""
    hit = segments_intersect(starts[:, None, :], ends[:, None, :], line[None, :-1, :], line[None, 1:, :])
    return np.asarray(hit.any(axis=1))
