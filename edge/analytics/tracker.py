"""ByteTrack-style multi-object tracker: Kalman filter + two-stage IoU association, fully vectorised.

Each track keeps a constant-velocity Kalman state ``[cx, cy, w, h, vcx, vcy, vw, vh]``; all tracks are
predicted and updated together as stacked arrays. Per frame:

1. high-score detections are matched to confirmed and lost tracks (IoU, optionally fused with the score);
2. low-score detections rescue the confirmed tracks left over (occluded people score low);
3. tentative tracks are matched to the high-score detections left over; unmatched tentative tracks die;
4. unmatched confirmed tracks become lost, lost tracks older than the buffer are removed, and high-score
   detections still unmatched start tentative tracks.

A track gets its public id when it is confirmed (``min_hits`` consecutive matches), so ids have no gaps
from one-frame false positives. Assignment is Hungarian (Jonker-Volgenant, ``lap``; scipy as fallback).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.analytics.config import TrackerConfig
from edge.vision.detections import Detections, box_iou

TENTATIVE, CONFIRMED, LOST = 0, 1, 2

_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160


def _linear_assignment(cost: npt.NDArray[np.float64], limit: float) -> np.ndarray:
    """Optimal matching with cost <= ``limit``: matched (row, col) pairs, shape (k, 2)."""
    try:
        import lap

        _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=limit)
        r = np.flatnonzero(x >= 0)
        return np.stack([r, x[r]], axis=1).astype(np.int64)
    except ImportError:  # pragma: no cover - lap is in the edge extra
        from scipy.optimize import linear_sum_assignment

        r, c = linear_sum_assignment(np.minimum(cost, limit + 1e-3))
        ok = cost[r, c] <= limit
        return np.stack([r[ok], c[ok]], axis=1).astype(np.int64)


def _xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    return np.concatenate([xyxy[:, :2] + wh * 0.5, wh], axis=1)


def _cxcywh_to_xyxy(m: np.ndarray) -> np.ndarray:
    half = m[:, 2:4] * 0.5
    return np.concatenate([m[:, :2] - half, m[:, :2] + half], axis=1).astype(np.float32)


def _size_std(wh: np.ndarray, weight: float) -> np.ndarray:
    """Per-row std ``weight * [w, h, w, h]``: noise scales with the box size."""
    return weight * np.concatenate([wh, wh], axis=1)


class ByteTracker:
    """Multi-object tracker over ``Detections``; ``update`` returns the confirmed tracks seen this frame."""

    def __init__(self, config: TrackerConfig | None = None, fps: float = 25.0) -> None:
        self.config = config or TrackerConfig()
        self.max_lost = max(1, round(self.config.track_buffer_s * fps))
        self.frame = 0
        self._next_id = 1
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, 3, 4))
        self.state = np.zeros(0, np.int8)
        self.ids = np.zeros(0, np.int64)  # -1 while tentative
        self.hits = np.zeros(0, np.int64)
        self.last_frame = np.zeros(0, np.int64)
        self.score = np.zeros(0, np.float32)
        self.class_id = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.state)

    # --- Kalman filter, all rows at once -------------------------------------------------------------
    # The four coordinates are independent (F, Q, R and the initial P are per coordinate), so the 8x8 covariance
    # is four 2x2 blocks: ``cov[:, 0]`` position variance, ``cov[:, 1]`` position-velocity covariance,
    # ``cov[:, 2]`` velocity variance, each (n, 4). Predict and update are then elementwise, exactly.
    def _predict(self) -> None:
        if not len(self):
            return
        self.mean[self.state != CONFIRMED, 6:] = 0.0  # lost/tentative boxes keep their size
        wh = self.mean[:, 2:4]
        q_pos, q_vel = _size_std(wh, _STD_POS) ** 2, _size_std(wh, _STD_VEL) ** 2
        pp, pv, vv = self.cov[:, 0], self.cov[:, 1], self.cov[:, 2]
        self.cov = np.stack([pp + 2 * pv + vv + q_pos, pv + vv, vv + q_vel], axis=1)
        self.mean[:, :4] += self.mean[:, 4:]

    def _kf_update(self, rows: np.ndarray, boxes: np.ndarray) -> None:
        mean, cov = self.mean[rows], self.cov[rows]
        pp, pv, vv = cov[:, 0], cov[:, 1], cov[:, 2]
        s = pp + _size_std(mean[:, 2:4], _STD_POS) ** 2
        k_pos, k_vel = pp / s, pv / s
        innovation = _xyxy_to_cxcywh(boxes) - mean[:, :4]
        mean[:, :4] += k_pos * innovation
        mean[:, 4:] += k_vel * innovation
        self.mean[rows] = mean
        self.cov[rows] = np.stack([(1 - k_pos) * pp, (1 - k_pos) * pv, vv - k_vel * pv], axis=1)

    def _add(self, dets: Detections, confirmed: bool) -> None:
        k = len(dets)
        if not k:
            return
        m = np.zeros((k, 8))
        m[:, :4] = _xyxy_to_cxcywh(dets.xyxy)
        wh = m[:, 2:4]
        cov = np.stack([_size_std(wh, 2 * _STD_POS) ** 2, np.zeros((k, 4)), _size_std(wh, 10 * _STD_VEL) ** 2], axis=1)
        ids = np.full(k, -1, np.int64)
        if confirmed:
            ids = np.arange(self._next_id, self._next_id + k)
            self._next_id += k
        self.mean = np.concatenate([self.mean, m])
        self.cov = np.concatenate([self.cov, cov])
        self.state = np.concatenate([self.state, np.full(k, CONFIRMED if confirmed else TENTATIVE, np.int8)])
        self.ids = np.concatenate([self.ids, ids])
        self.hits = np.concatenate([self.hits, np.ones(k, np.int64)])
        self.last_frame = np.concatenate([self.last_frame, np.full(k, self.frame, np.int64)])
        self.score = np.concatenate([self.score, dets.score])
        self.class_id = np.concatenate([self.class_id, dets.class_id])

    def forget(self, ids: list[int]) -> None:
        """Drop the tracks with these public ids (a counter found their person under a new track)."""
        drop = np.isin(self.ids, np.asarray(ids, np.int64)) & (self.ids >= 0)
        if drop.any():
            self._keep(~drop)

    def _keep(self, mask: np.ndarray) -> None:
        for name in ("mean", "cov", "state", "ids", "hits", "last_frame", "score", "class_id"):
            setattr(self, name, getattr(self, name)[mask])

    # --- association -----------------------------------------------------------------------------------
    def _nearness(self, dets: Detections) -> np.ndarray:
        """Similarity in (0, 1] of tracks and detections of similar size whose centres are within
        ``lost_match_distance`` track heights (re-finds lost tracks whose prediction drifted off the person)."""
        m = _xyxy_to_cxcywh(dets.xyxy)
        h = self.mean[:, 3:4]
        dist = np.hypot(self.mean[:, None, 0] - m[None, :, 0], self.mean[:, None, 1] - m[None, :, 1]) / h
        ratio = m[None, :, 3] / h
        ok = (ratio > 0.7) & (ratio < 1.4) & (self.class_id[:, None] == dets.class_id[None, :])
        return np.where(ok, np.clip(1.0 - dist / self.config.lost_match_distance, 0.0, 1.0), 0.0)

    @staticmethod
    def _associate(
        sim: np.ndarray, rows: np.ndarray, cols: np.ndarray, min_sim: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Match track ``rows`` to detection ``cols`` on similarity ``sim`` (tracks x dets) >= ``min_sim``.

        Returns matched (track row, detection index) pairs, unmatched rows and unmatched cols.
        """
        if not len(rows) or not len(cols):
            return np.zeros((0, 2), np.int64), rows, cols
        pairs = _linear_assignment(1.0 - sim[np.ix_(rows, cols)], 1.0 - min_sim)
        free_rows = np.ones(len(rows), bool)
        free_rows[pairs[:, 0]] = False
        free_cols = np.ones(len(cols), bool)
        free_cols[pairs[:, 1]] = False
        return np.stack([rows[pairs[:, 0]], cols[pairs[:, 1]]], axis=1), rows[free_rows], cols[free_cols]

    def update(self, dets: Detections) -> Detections:
        """Advance one frame with this frame's detections; returns confirmed tracks matched now (with ``track_id``)."""
        cfg = self.config
        self.frame += 1
        self._predict()
        high = np.flatnonzero(dets.score >= cfg.high_thresh)
        low = np.flatnonzero((dets.score >= cfg.low_thresh) & (dets.score < cfg.high_thresh))

        iou = box_iou(_cxcywh_to_xyxy(self.mean), dets.xyxy).astype(np.float64)
        iou[self.class_id[:, None] != dets.class_id[None, :]] = 0.0
        fused = iou * dets.score[None, :] if cfg.fuse_score else iou

        pool = np.flatnonzero(self.state != TENTATIVE)
        m1, pool_left, high_left = self._associate(fused, pool, high, cfg.match_iou)
        tracked_left = pool_left[self.state[pool_left] == CONFIRMED]
        m2, unmatched_tracked, _ = self._associate(iou, tracked_left, low, cfg.low_match_iou)
        m_lost = np.zeros((0, 2), np.int64)
        lost = pool_left[self.state[pool_left] == LOST]
        if cfg.lost_match_distance > 0 and len(lost) and len(high_left):
            m_lost, _, high_left = self._associate(self._nearness(dets), lost, high_left, 1e-6)
        tentative = np.flatnonzero(self.state == TENTATIVE)
        m3, unmatched_tentative, high_left = self._associate(fused, tentative, high_left, cfg.tentative_match_iou)
        matched = np.concatenate([m1, m2, m_lost, m3])

        rows, det_rows = matched[:, 0], matched[:, 1]
        if len(rows):
            self._kf_update(rows, dets.xyxy[det_rows])
            self.hits[rows] += 1
            self.last_frame[rows] = self.frame
            self.score[rows] = dets.score[det_rows]
            promote = (self.state[rows] == LOST) | ((self.state[rows] == TENTATIVE) & (self.hits[rows] >= cfg.min_hits))
            self.state[rows[promote]] = CONFIRMED
            fresh = rows[promote & (self.ids[rows] < 0)]
            self.ids[fresh] = np.arange(self._next_id, self._next_id + len(fresh))
            self._next_id += len(fresh)
        self.state[unmatched_tracked] = LOST
        self.hits[unmatched_tracked] = 0
        alive = np.ones(len(self), bool)
        alive[unmatched_tentative] = False
        alive &= ~((self.state == LOST) & (self.frame - self.last_frame > self.max_lost))
        if not alive.all():
            self._keep(alive)

        new = high_left[dets.score[high_left] >= cfg.new_track_thresh]
        self._add(dets[new], confirmed=self.frame == 1 or cfg.min_hits <= 1)

        out = np.flatnonzero((self.state == CONFIRMED) & (self.last_frame == self.frame))
        return Detections(
            xyxy=_cxcywh_to_xyxy(self.mean[out]),
            score=self.score[out].astype(np.float32),
            class_id=self.class_id[out],
            track_id=self.ids[out],
        )
