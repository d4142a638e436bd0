"""Flicker of painted clips: the warping error of Lai et al. (2018) for each engine and
temporal mode, on synthetic clips of exactly known motion and, optionally, one real clip.

    python benchmarks/flicker.py [--real cityCC0.mpg] [--frames 12] [--size 256]
                                 [--engines fast,optimize] [--style starry_night]
                                 [--segments 2 --overlap 8]

Synthetic clips (motion known exactly, so the metric uses the true flow and mask): a pan,
a zoom and a rotation over a bundled photo, and shapes moving over a still background. The
real clip's flow is measured with OpenCV's DIS flow and Ruder et al.'s consistency mask.
Prints one row per clip and mode: warping error (x 1e-3), its ratio to painting each frame
alone, the worst pair of frames (where a seam between segments would show), and the frames
per second of painting (flow included, no decoding). With ``--segments N`` each temporal
mode is also painted as ``painterly video --workers`` paints it: N segments, one after
another here, crossfaded over ``--overlap`` frames.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from painterly import image_io
from painterly.config import StyleConfig
from painterly.examples import input_image
from painterly.fast import make_painter
from painterly.video import BlendingEngine, RuderEngine, probe, read_frames, warping_error
from painterly.video.clips import frame_size
from painterly.video.flow import flow_and_mask, pair_warping_error
from painterly.video.segments import assembled_frames, plan_segments
from painterly.video.temporal import to_tensor


def _photo(size: int) -> np.ndarray:
    image = image_io.load_image(input_image("chelsea_cat"), long_edge=2 * size)
    return (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _affine_clip(photo, frames, w, h, step):
    """Frames of ``photo`` through affine maps A_t (frame -> photo); true flow t -> t-1."""
    ph, pw = photo.shape[:2]
    clip, flows, masks = [], [], []
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for t in range(frames):
        a = step(t, pw, ph, w, h)  # 2x3: frame pixel -> photo pixel
        clip.append(cv2.warpAffine(photo, a, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REFLECT))
        if t:
            prev = np.vstack([step(t - 1, pw, ph, w, h), [0, 0, 1]])
            to_prev = np.linalg.inv(prev)[:2] @ np.vstack([a, [0, 0, 1]])
            px = to_prev[0, 0] * xs + to_prev[0, 1] * ys + to_prev[0, 2]
            py = to_prev[1, 0] * xs + to_prev[1, 1] * ys + to_prev[1, 2]
            flows.append(np.stack([px - xs, py - ys], -1).astype(np.float32))
            masks.append(((px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)).astype(np.float32))
    return clip, flows, masks


def _pan(t, pw, ph, w, h):
    return np.float32([[1, 0, 3 * t + 10], [0, 1, t + 10]])


def _zoom(t, pw, ph, w, h):
    s = 1.0 / (1.02 ** t) * min(pw / w, ph / h) * 0.9
    cx, cy = pw / 2, ph / 2
    return np.float32([[s, 0, cx - s * w / 2], [0, s, cy - s * h / 2]])


def _rotation(t, pw, ph, w, h):
    angle, s = np.deg2rad(1.5 * t), min(pw / w, ph / h) * 0.6
    c, n = np.cos(angle) * s, np.sin(angle) * s
    cx, cy = pw / 2, ph / 2
    return np.float32([[c, -n, cx - c * w / 2 + n * h / 2], [n, c, cy - n * w / 2 - c * h / 2]])


def _shapes(frames, w, h):
    """Three shapes moving at known speeds over a still gradient."""
    y, x = np.mgrid[0:h, 0:w]
    back = np.stack([x * 200 // w + 30, y * 200 // h + 30, np.full_like(x, 120)], -1).astype(np.uint8)
    shapes = [((230, 60, 40), (3, 1), "disc"), ((40, 90, 220), (-2, 2), "box"), ((250, 220, 60), (2, -1), "disc")]
    clip, flows, masks, labels_prev = [], [], [], None
    for t in range(frames):
        frame, labels = back.copy(), np.zeros((h, w), np.int32)
        flow = np.zeros((h, w, 2), np.float32)
        for k, (colour, (vx, vy), kind) in enumerate(shapes, start=1):
            cx, cy = w * k // 4 + vx * t, h // 2 + vy * t
            if kind == "disc":
                inside = (x - cx) ** 2 + (y - cy) ** 2 < (h // 6) ** 2
            else:
                inside = (abs(x - cx) < h // 6) & (abs(y - cy) < h // 8)
            frame[inside], labels[inside] = colour, k
            flow[inside] = (-vx, -vy)
        clip.append(frame)
        if t:
            px = np.clip(np.rint(x + flow[..., 0]).astype(int), 0, w - 1)
            py = np.clip(np.rint(y + flow[..., 1]).astype(int), 0, h - 1)
            flows.append(flow)
            masks.append((labels_prev[py, px] == labels).astype(np.float32))
        labels_prev = labels
    return clip, flows, masks


def _real(path, frames, size):
    info = probe(path, end=None)
    clip = []
    for frame in read_frames(info, frame_size(info, size)):
        clip.append(frame)
        if len(clip) == frames:
            break
    pairs = [flow_and_mask(clip[t], clip[t - 1]) for t in range(1, len(clip))]
    return clip, [f for f, _ in pairs], [m for _, m in pairs]


def _paint(engine, clip):
    painted, prev, prev_p = [], None, None
    begun = time.perf_counter()
    for frame in clip:
        prev_p = engine(frame, prev, prev_p)
        prev = frame
        painted.append(prev_p)
    return painted, len(clip) / (time.perf_counter() - begun)


def _paint_in_segments(engine, clip, segments, overlap):
    """The clip painted as N segments, each starting afresh, then crossfaded."""
    plan, painted = plan_segments(len(clip), segments, overlap), {}
    begun = time.perf_counter()
    for segment in plan:
        frames, _ = _paint(engine, clip[segment.first:segment.stop])
        painted[segment.index] = frames
    assembled = list(assembled_frames(plan, lambda s, i: painted[s.index][i - s.first]))
    return assembled, sum(s.frames for s in plan) / (time.perf_counter() - begun), len(plan)


def _peak(painted, flows, masks) -> float:
    return max(pair_warping_error(to_tensor(painted[t]), to_tensor(painted[t - 1]),
                                  flows[t - 1], masks[t - 1]) for t in range(1, len(painted)))


def _modes(engines, style, blends, iterations, weight):
    if "fast" in engines:
        painter = make_painter([style], video=True)  # as `painterly video` paints
        for blend in blends:
            yield ("fast, each frame alone" if blend == 0 else f"fast, blend {blend:g}"), \
                BlendingEngine(painter, blend=blend)
    if "optimize" in engines:
        config = StyleConfig(iterations=iterations, scales=1)
        paintings = [(input_image(style), 1.0)]
        yield "optimize, each frame alone", RuderEngine(paintings, config, warm_start=False)
        yield "optimize, warped start", RuderEngine(paintings, config, temporal_weight=0)
        yield f"optimize, warped start + temporal loss {weight:g}", \
            RuderEngine(paintings, config, temporal_weight=weight)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", help="a real clip (e.g. cityCC0.mpg, see the README)")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=256, help="long edge of the frames")
    parser.add_argument("--engines", default="fast", help="fast,optimize")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--blends", default="0,0.6,0.8")
    parser.add_argument("--iterations", type=int, default=20, help="optimize: steps per frame")
    parser.add_argument("--temporal-weight", type=float, default=100.0)
    parser.add_argument("--segments", type=int, default=0,
                        help="also paint each temporal mode in this many segments")
    parser.add_argument("--overlap", type=int, default=8, help="frames of each crossfade")
    parser.add_argument("--clips", default="pan,zoom,rotation,moving shapes,real",
                        help="which clips, comma-separated")
    args = parser.parse_args()
    w, h = args.size, args.size * 9 // 16 // 2 * 2
    photo = _photo(args.size)
    clips = {"pan": _affine_clip(photo, args.frames, w, h, _pan),
             "zoom": _affine_clip(photo, args.frames, w, h, _zoom),
             "rotation": _affine_clip(photo, args.frames, w, h, _rotation),
             "moving shapes": _shapes(args.frames, w, h)}
    if args.real:
        clips["real: " + args.real.rsplit("/", 1)[-1]] = _real(args.real, args.frames, args.size)
    chosen = args.clips.split(",")
    clips = {name: clip for name, clip in clips.items() if name.split(":")[0] in chosen}
    blends = [float(b) for b in args.blends.split(",")]
    modes = list(_modes(args.engines.split(","), args.style, blends, args.iterations,
                        args.temporal_weight))
    print(f"{args.frames} frames at {w}x{h}; warping error x 1e-3 (ratio to each frame alone)")
    print(f"{'clip':<22} {'mode':<48} {'error':>8} {'ratio':>6} {'peak':>8} {'frames/s':>9}")
    for name, (clip, flows, masks) in clips.items():
        alone = {}
        for mode, engine in modes:
            runs = [(mode, *_paint(engine, clip))]
            if args.segments > 1 and "alone" not in mode:
                painted, fps, count = _paint_in_segments(engine, clip, args.segments, args.overlap)
                runs.append((f"{mode}, {count} segments", painted, fps))
            for label, painted, fps in runs:
                error = warping_error(painted, flows, masks)
                family = mode.split(",")[0]
                alone.setdefault(family, error)
                print(f"{name:<22} {label:<48} {error * 1e3:8.2f} {error / alone[family]:6.2f} "
                      f"{_peak(painted, flows, masks) * 1e3:8.2f} {fps:9.2f}", flush=True)
        print(f"{name:<22} {'the input itself':<48} {warping_error(clip, flows, masks) * 1e3:8.2f}")


if __name__ == "__main__":
    main()
