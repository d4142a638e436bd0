"""What the studio's queue runs: a stylisation of two stored images, saved with its parameters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .. import __version__, image_io, pipeline
from ..config import StyleConfig
from ..models.vgg import FeatureExtractor
from ..multiscale import Scale
from ..optimize import Progress
from .jobs import Task
from .uploads import StoredImage

SHOWN_PARAMS = ("size", "iterations", "scales", "style_weight", "seed", "preserve_color")


def stylize_task(content: StoredImage, style: StoredImage, config: StyleConfig, *,
                 out: Path, extractor: FeatureExtractor | None = None) -> Task:
    """A Task painting ``content`` like ``style``; the PNG at ``out`` records the parameters.

    Raises ValueError (one line) now, rather than failing later in the queue, if a picture
    is too narrow for the network or the run cannot fit in memory on its device
    (``pipeline.plan``, which also gives the exact step counts, tiles included).
    """
    plans = pipeline.plan((content.width, content.height), [(style.width, style.height)], config,
                          names=[f"content: {content.name}", f"style: {style.name}"])
    stages = tuple(Scale(plan.long_edge, plan.total_steps) for plan in plans)
    settings = config.to_dict()
    info = {"kind": "stylize", "title": f"{content.name} × {style.name}",
            "content": content.public(), "style": style.public(),
            "params": {k: settings[k] for k in SHOWN_PARAMS if k in settings},
            "download_name": _download_name(content, style, config)}

    def run(callback: Callable[[Progress], None]) -> Path:
        image = pipeline.stylize(str(content.path), [(str(style.path), 1.0)], config,
                                 callback=callback, extractor=extractor)
        return image_io.save_image(image, out, metadata=metadata(content, style, config))

    return Task(run=run, stages=stages, info=info)


def metadata(content: StoredImage, style: StoredImage, config: StyleConfig) -> dict[str, str]:
    """The PNG text chunks: the same record as the CLI's, naming images by their titles."""
    record = {"version": __version__, "content": content.name, "styles": [[style.name, 1.0]],
              "config": config.to_dict(), "studio": True}
    return {"painterly": json.dumps(record), "Software": f"painterly {__version__}"}


def _download_name(content: StoredImage, style: StoredImage, config: StyleConfig) -> str:
    def slug(text: str) -> str:
        stem, dot, ext = text.rpartition(".")
        text = stem if dot and stem and len(ext) <= 4 else text
        cleaned = "".join(ch if ch.isalnum() else "_" for ch in text.lower())
        return "_".join(part for part in cleaned.split("_") if part)[:32] or "image"
    return f"{slug(content.name)}_{slug(style.name)}_{config.size}px.png"
