"""The Explore tab: views of what the network sees, from :mod:`painterly.explore`.

Each view names an explore function that takes ``image=``, ``layer=``, ``extractor=``,
``device=`` and ``callback=`` and returns an ``ExploreResult`` (a labelled grid ``image``
plus ``to_json()``). A view is offered only when its function can be imported, so the tab
grows as the explore package does, and a build without it says so instead of failing.
Explore runs go through the same queue as stylisations (they are optimisations too).
"""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, image_io
from ..config import StyleConfig
from ..models.vgg import FeatureExtractor
from ..models.layers import deepest
from ..multiscale import Scale, min_short_side
from .guards import shown
from .jobs import Task
from .params import ParamError
from .uploads import ImageStore, StoredImage

UNAVAILABLE = ("Explore views (activation maps, neuron grids, layer reconstructions) need "
               "painterly.explore, which this installation does not include yet.")


@dataclass(frozen=True)
class View:
    """One explore function as the tab shows it.

    image: which of the chosen images it starts with (the page lets the user switch).
    layer: the default layer of a one-layer view; None for views that take ``layers``
    (the paper's set, as far as the network has them). options: fixed keyword arguments.
    """

    id: str
    title: str
    description: str
    module: str
    function: str
    image: str = "content"
    layer: str | None = None
    layers: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)


_CONTENT_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_EXPLORE = "painterly.explore."
VIEWS = (
    View("activations", "Activation maps",
         "Where on the image the strongest channels of one layer respond.",
         _EXPLORE + "activations", "activation_maps", layer="conv4_1", options={"top": 9}),
    View("neurons", "Neuron grid",
         "For the channels of one layer that respond most to the image: an image made to "
         "excite each of them.",
         _EXPLORE + "neurons", "visualize_neurons", layer="conv3_1", options={"top": 12}),
    View("content", "Content reconstructions",
         "The photo rebuilt from white noise using one layer's responses at a time: "
         "deeper layers keep the objects but not the exact pixels (Gatys et al., Fig. 1).",
         _EXPLORE + "reconstruct", "reconstruct_content", layers=_CONTENT_LAYERS),
    View("style", "Style reconstructions",
         "Textures from white noise matching the painting's Gram matrices on growing sets "
         "of layers: the style representation.",
         _EXPLORE + "reconstruct", "reconstruct_style", image="style", layers=_STYLE_LAYERS),
)


def _function(view: View):
    try:
        return getattr(importlib.import_module(view.module), view.function, None)
    except ImportError:
        return None


def status(extractor: FeatureExtractor | None = None) -> dict:
    """What the tab shows: whether explore is installed and which views it offers."""
    views = [view for view in VIEWS if _function(view) is not None]
    layers = _layers(extractor)
    shown = []
    for v in views or VIEWS:
        entry = {"id": v.id, "title": v.title, "description": v.description, "image": v.image}
        if v.layer is not None:
            entry.update(layers=layers, layer=v.layer if v.layer in layers else layers[-1])
        else:
            entry.update(layers=list(_layer_set(v, extractor)), layer=None)
        shown.append(entry)
    return {"available": bool(views), "message": "" if views else UNAVAILABLE, "views": shown}


def _layers(extractor: FeatureExtractor | None) -> list[str]:
    from ..models.layers import LAYER_NAMES

    names = extractor.names if extractor is not None else LAYER_NAMES
    return [name for name in names if not name.startswith("pool")]


def _layer_set(view: View, extractor: FeatureExtractor | None) -> tuple[str, ...]:
    """The view's layers that the network has (its ReLU layers, for a small test network)."""
    have = _layers(extractor)
    kept = tuple(name for name in view.layers if name in have)
    return kept or tuple(name for name in have if name.startswith("relu"))


def explore_task(body: object, store: ImageStore, base: StyleConfig, *, out: Path,
                 extractor: FeatureExtractor | None = None) -> Task:
    """A Task for ``{"view": id, "image": image id, "layer": name}``. Raises ParamError."""
    if not isinstance(body, dict):
        raise ParamError("the request body must be a JSON object")
    unknown = sorted(set(body) - {"view", "image", "layer"})
    if unknown:
        raise ParamError(f"unknown parameter {shown(unknown[0])}; allowed: view, image, layer")
    view = next((v for v in VIEWS if v.id == body.get("view")), None)
    function = _function(view) if view else None
    if function is None:
        offered = ", ".join(v["id"] for v in status(extractor)["views"])
        raise ParamError(f"view must be one of the available views ({offered or 'none'}); "
                         f"got {shown(body.get('view'))}")
    image = store.get(body.get("image")) if isinstance(body.get("image"), str) else None
    if image is None:
        raise ParamError(f"image: no image with id {shown(body.get('image'))} (upload it first)")
    arguments = dict(view.options)
    if view.layer is not None:
        layer = body.get("layer") or view.layer
        if layer not in _layers(extractor):
            raise ParamError(f"unknown layer {shown(layer)}; valid layers: "
                             f"{', '.join(_layers(extractor))}")
        arguments["layer"], label = layer, layer
    else:
        arguments["layers"] = _layer_set(view, extractor)
        label = f"{arguments['layers'][0]}…{arguments['layers'][-1]}"
    _check_shape(image, function, arguments.get("layers") or [arguments["layer"]])
    info = {"kind": "explore", "title": f"{view.title} ({label}): {image.name}",
            "content": image.public(), "style": None,
            "params": {"view": view.id, **{k: v for k, v in arguments.items()
                                           if k in ("layer", "layers")}},
            "download_name": f"{view.id}_{label.replace('…', '-')}.png"}

    def run(callback) -> Path:
        result = function(image=str(image.path), extractor=extractor, device=base.device,
                          precision=base.precision, callback=lambda p: callback(_Step.of(p)),
                          **arguments)
        record = {"version": __version__, "image": image.name, "explore": result.to_json()}
        metadata = {"painterly": json.dumps(record, default=str),
                    "Software": f"painterly {__version__}"}
        return image_io.save_image(result.image, out, metadata=metadata)

    return Task(run=run, stages=(Scale(long_edge=1, steps=1),), info=info)


def _check_shape(image: StoredImage, function, layers) -> None:
    """ParamError naming the image if, at the view's size (its ``size`` default, the long
    edge the image is read at), its short side is too small for the network up to ``layers``."""
    size = inspect.signature(function).parameters.get("size")
    if size is None or not isinstance(size.default, int):
        return
    need = min_short_side(layers)
    w, h = image_io.size_for_long_edge(image.width, image.height, size.default)
    if min(w, h) < need:
        raise ParamError(f"image: {image.name} ({image.width}x{image.height} px) is too narrow: "
                         f"at {size.default} px it is {w}x{h}, and VGG19 needs at least {need} px "
                         f"on each side up to {deepest(layers)}; crop it")


@dataclass(frozen=True)
class _Step:
    """An explore progress report in the shape the job queue reads (no preview image)."""

    scale: int
    scales: int
    step: int
    steps: int
    losses: dict
    elapsed: float
    done: int
    total: int
    size: tuple[int, int] = (0, 0)

    @classmethod
    def of(cls, progress) -> _Step:
        """From an ExploreProgress: stage/stages of ``steps`` each, counted as one run."""
        done = (progress.stage - 1) * progress.steps + progress.step
        return cls(progress.stage, progress.stages, progress.step, progress.steps,
                   dict(progress.losses), progress.elapsed, done,
                   progress.stages * progress.steps)

    def preview(self):
        return None
