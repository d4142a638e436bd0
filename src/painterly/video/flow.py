"""Optical flow (OpenCV's DIS or Farnebäck), warping, occlusion masks and the warping error.

A flow here is a float32 array (H,W,2): for each pixel (x, y) of the frame it belongs to, the
displacement (dx, dy) to the matching point of the other frame. ``flow(current -> previous)``
warps the previous frame onto the current one.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

FLOW_METHODS = ("dis", "farneback")


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def optical_flow(source: np.ndarray, target: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow from ``source`` to ``target`` (RGB uint8 (H,W,3)) -> float32 (H,W,2)."""
    a, b = _grey(source), _grey(target)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(a, b, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    raise ValueError(f"flow method must be one of {', '.join(FLOW_METHODS)}, got {method!r}")


def _sample(array: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``array`` (H,W,C) read at x + flow(x), bilinear; outside the frame: nearest edge."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(array, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def reliable_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the flow current -> previous (``backward``) can be trusted: float32 (H,W) of 0/1.

    Ruder, Dosovitskiy & Brox 2016, section 3.2: a pixel is occluded (disoccluded) when the
    flow there and the reverse flow at its match do not cancel,
    ``|b + f~|^2 > 0.01 (|b|^2 + |f~|^2) + 0.5``, and on a motion boundary when
    ``|grad b_x|^2 + |grad b_y|^2 > 0.01 |b|^2 + 0.002``. Pixels whose match lies outside the
    previous frame are unreliable too (not in the paper, which pads instead).
    """
    h, w = backward.shape[:2]
    f_back = _sample(forward, backward)
    total = backward + f_back
    occluded = (total**2).sum(-1) > 0.01 * ((backward**2).sum(-1) + (f_back**2).sum(-1)) + 0.5
    gx = [cv2.Sobel(backward[..., i], cv2.CV_32F, 1, 0, ksize=1) / 2 for i in range(2)]
    gy = [cv2.Sobel(backward[..., i], cv2.CV_32F, 0, 1, ksize=1) / 2 for i in range(2)]
    gradient = sum(g**2 for g in gx + gy)
    boundary = gradient > 0.01 * (backward**2).sum(-1) + 0.002
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    tx, ty = xs + backward[..., 0], ys + backward[..., 1]
    outside = (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)
    return (~(occluded | boundary | outside)).astype(np.float32)


def flow_and_mask(current: np.ndarray, previous: np.ndarray,
                  method: str = "dis") -> tuple[np.ndarray, np.ndarray]:
    """(flow current -> previous (H,W,2), reliable mask (H,W)) of two RGB uint8 frames."""
    backward = optical_flow(current, previous, method)
    forward = optical_flow(previous, current, method)
    return backward, reliable_mask(backward, forward)


def warp(image: torch.Tensor, flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The previous frame moved onto the current one.

    image: (B,C,H,W) float; flow: (H,W,2) current -> previous. Returns (B,C,H,W), bilinear,
    edge pixels repeated outside; on the image's device and dtype.
    """
    b, _, h, w = image.shape
    flow = torch.as_tensor(flow, dtype=image.dtype, device=image.device)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=image.dtype, device=image.device),
                            torch.arange(w, dtype=image.dtype, device=image.device), indexing="ij")
    gx = (xs + flow[..., 0]) * (2 / max(w - 1, 1)) - 1
    gy = (ys + flow[..., 1]) * (2 / max(h - 1, 1)) - 1
    grid = torch.stack([gx, gy], dim=-1).expand(b, h, w, 2)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def pair_warping_error(current: torch.Tensor, previous: torch.Tensor, flow: np.ndarray,
                       mask: np.ndarray) -> float:
    """Lai et al. 2018, eq. 7 for one pair: mean over reliable pixels of the squared RGB
    distance between ``current`` and ``previous`` warped by ``flow``; (1,3,H,W) in [0,1]."""
    weights = torch.as_tensor(mask, dtype=current.dtype)
    if float(weights.sum()) == 0:
        return 0.0
    distance = ((current - warp(previous, flow)) ** 2).sum(1)[0]
    return float((distance * weights).sum() / weights.sum())


def warping_error(painted: Sequence[np.ndarray], flows: Sequence[np.ndarray],
                  masks: Sequence[np.ndarray]) -> float:
    """Lai et al. 2018 ("Learning Blind Video Temporal Consistency", eq. 7): the mean over
    frame pairs of :func:`pair_warping_error`.

    painted: T RGB uint8 frames (H,W,3); flows[t-1], masks[t-1]: flow frame t -> t-1 of the
    *input* clip and its reliable mask, for t = 1..T-1. Lai et al. compute the flow with
    FlowNet2; here it is whatever the caller measured or knows exactly.
    """
    if len(painted) < 2 or len(flows) != len(painted) - 1 or len(masks) != len(flows):
        raise ValueError("give T >= 2 frames and T - 1 flows and masks")
    tensors = [torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1)[None].float() / 255
               for p in painted]
    errors = [pair_warping_error(tensors[t], tensors[t - 1], flows[t - 1], masks[t - 1])
              for t in range(1, len(tensors))]
    return float(np.mean(errors))
