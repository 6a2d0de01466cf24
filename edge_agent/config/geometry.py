"""Checks of what an installer draws on a camera's image: pure geometry, no OpenCV."""

from __future__ import annotations

from collections.abc import Sequence


def polygon_problem(points: Sequence[tuple[float, float]]) -> str | None:
    """Why a polygon is not simple (no area, or two of its edges cross or touch), or None.

    Inside-tests of crossing polygons depend on the rule used, so an installer's drawing mistake would change
    what counts as inside without any error; a few vertices, so the O(n^2) check costs nothing.
    """
    pts = [(float(x), float(y)) for x, y in points]
    n = len(pts)
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a vertex
            if _segments_meet(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]):
                return f"edges {i}-{(i + 1) % n} and {j}-{(j + 1) % n} cross: list the vertices in order around it"
    area2 = sum(pts[i][0] * pts[(i + 1) % n][1] - pts[(i + 1) % n][0] * pts[i][1] for i in range(n))
    if abs(area2) < 1e-9:
        return "the polygon has no area (its vertices are on one line or repeated)"
    return None


def _orientation(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _segments_meet(
    p1: tuple[float, float], p2: tuple[float, float], q1: tuple[float, float], q2: tuple[float, float]
) -> bool:
    d1, d2 = _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    d3, d4 = _orientation(p1, p2, q1), _orientation(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True

    def on(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: float) -> bool:
        return d == 0 and min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return on(q1, q2, p1, d1) or on(q1, q2, p2, d2) or on(p1, p2, q1, d3) or on(p1, p2, q2, d4)
