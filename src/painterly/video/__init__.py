"""Painting video clips: frames in and out with PyAV, optical flow from OpenCV, temporal
consistency (flow-guided blending for one-pass engines; Ruder et al. 2016 for the optimiser),
a resumable work folder, and the warping error of Lai et al. 2018 that measures flicker.

Needs the ``video`` extra (``pip install "painterly[video]"``); the rest of painterly imports
without it.
"""

try:
    import av  # noqa: F401
    import cv2  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('painting video needs PyAV and OpenCV: pip install "painterly[video]"') from exc

from .clips import ClipInfo, StillPicture, VideoError, probe, read_frames, write_clip
from .flow import flow_and_mask, optical_flow, reliable_mask, warp, warping_error
from .run import paint_clip
from .segments import VideoProgress
from .temporal import BlendingEngine, EngineRecipe, RuderEngine

__all__ = ["ClipInfo", "StillPicture", "VideoError", "probe", "read_frames", "write_clip",
           "optical_flow", "reliable_mask", "flow_and_mask", "warp", "warping_error", "paint_clip",
           "VideoProgress", "BlendingEngine", "RuderEngine", "EngineRecipe"]
