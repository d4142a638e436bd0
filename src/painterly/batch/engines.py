"""The two engines a batch can run, as small picklable objects that build their networks
where they run (once per worker process or Ray actor) and paint one item at a time.

A batch runner needs only this of an engine: ``engine.check(items)`` (before any work),
``engine(item) -> (1,3,H,W) float in [0,1]`` and ``engine.describe(item) -> dict`` (what
the output's metadata records). Everything about painting stays here and in the engines'
own modules (:mod:`painterly.fast`, :mod:`painterly.pipeline`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence

import torch

from .. import image_io
from ..config import StyleConfig
from ..examples import parse_picture_spec, resolve_image
from .items import Item

FAST_OPTIONS = {"size": int, "strength": float, "preserve_color": str}
RUN_SETTINGS = ("device", "precision")
"""StyleConfig fields that belong to the machine, not to an item: not settable per row."""


def _convert(value, kind: type, name: str, where: str):
    """A manifest cell (text in CSV, JSON values in JSONL) as ``kind``; ValueError naming it."""
    if kind is bool and isinstance(value, str):
        if value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
    elif kind in (int, float) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            number = kind(float(value)) if kind is int and not isinstance(value, str) else kind(value)
        except ValueError:
            pass
        else:
            return number
    elif isinstance(value, kind):
        return value
    raise ValueError(f"{where}: {name} must be {kind.__name__}, got {value!r}")


class FastEngine:
    """Fast styles and painting pictures in one pass (:func:`painterly.fast.make_painter`).

    size: long edge of each output (0: the photo's size); per item: ``size``, ``strength``,
    ``preserve_color``. One painter per distinct styles and settings, built on first use."""

    name = "fast"

    def __init__(self, *, size: int = 1024, strength: float = 1.0, preserve_color: str = "none",
                 device: str = "cpu", precision: str = "auto", tile_size: int | None = None):
        self.settings = {"size": size, "strength": strength, "preserve_color": preserve_color}
        self.device, self.precision, self.tile_size = device, precision, tile_size
        self._painters: dict = {}

    def __getstate__(self):  # networks are built where the engine runs, never shipped
        return {**self.__dict__, "_painters": {}}

    def options(self, item: Item) -> dict:
        """The item's settings: the batch's, with the row's own converted and checked."""
        where = f"{item.photo!r}"
        unknown = sorted(set(item.options) - set(FAST_OPTIONS))
        if unknown:
            raise ValueError(f"{where}: unknown option {unknown[0]!r} for the fast engine "
                             f"(allowed: {', '.join(FAST_OPTIONS)})")
        found = {k: _convert(v, FAST_OPTIONS[k], k, where) for k, v in item.options.items()}
        settings = {**self.settings, **found}
        if settings["size"] < 0 or 0 < settings["size"] < 16:
            raise ValueError(f"{where}: size must be 0 or at least 16, got {settings['size']}")
        if not 0 <= settings["strength"] <= 1:
            raise ValueError(f"{where}: strength must be in [0, 1], got {settings['strength']}")
        if settings["preserve_color"] not in ("none", "luminance", "histogram"):
            raise ValueError(f"{where}: preserve_color must be none, luminance or histogram, "
                             f"got {settings['preserve_color']!r}")
        return settings

    def check(self, items: Sequence[Item]) -> None:
        """Every item's options, and every distinct set of styles found, before any work."""
        from ..fast import are_painting_files, load_mix

        for styles in dict.fromkeys(item.styles for item in items):
            if not are_painting_files(styles):
                load_mix(list(styles))
        for item in items:
            settings = self.options(item)
            if settings["strength"] != 1 and not are_painting_files(item.styles):
                raise ValueError(f"{item.photo!r}: strength applies to painting files, not to "
                                 "trained styles")

    def _painter(self, styles: tuple[str, ...], strength: float, preserve_color: str):
        from ..devices import resolve_runtime
        from ..fast import make_painter

        key = (styles, strength, preserve_color)
        if key not in self._painters:
            runtime = resolve_runtime(self.device, self.precision)
            self._painters[key] = make_painter(styles, strength=strength,
                                               preserve_color=preserve_color, runtime=runtime,
                                               tile_size=self.tile_size)
        return self._painters[key]

    def __call__(self, item: Item) -> torch.Tensor:
        """Paint ``item``: (1,3,H,W) float32 in [0,1] on the CPU."""
        settings = self.options(item)
        photo = image_io.load_image(item.photo, long_edge=settings["size"] or None)
        with torch.inference_mode():
            return self._painter(item.styles, settings["strength"], settings["preserve_color"])(photo)

    def describe(self, item: Item) -> dict:
        from ..fast import are_painting_files, mix_network

        network = {} if are_painting_files(item.styles) else {"network": mix_network(item.styles)}
        return {"engine": self.name, "styles": list(item.styles), **network, **self.options(item)}


class OptimizeEngine:
    """The optimiser (Gatys et al., :func:`painterly.pipeline.stylize`): ``config`` for every
    item, and any StyleConfig field but device and precision per item."""

    name = "optimize"

    def __init__(self, config: StyleConfig):
        self.config = config

    def options(self, item: Item) -> StyleConfig:
        where = f"{item.photo!r}"
        hints = typing.get_type_hints(StyleConfig)
        fields = {f.name for f in dataclasses.fields(StyleConfig)} - set(RUN_SETTINGS)
        changes = {}
        for name, value in item.options.items():
            if name not in fields:
                raise ValueError(f"{where}: unknown option {name!r} for the optimiser "
                                 "(a StyleConfig field other than device and precision)")
            kind = next((a for a in typing.get_args(hints[name]) if a is not type(None)), hints[name])
            if kind in (int, float, bool, str):
                value = _convert(value, kind, name, where)
            changes[name] = value
        try:
            return self.config.replace(**changes) if changes else self.config
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None

    def _styles(self, item: Item) -> list[tuple[str, float]]:
        pairs = [parse_picture_spec(spec) for spec in item.styles]
        return [(resolve_image(path), weight) for path, weight in pairs]

    def check(self, items: Sequence[Item]) -> None:
        """Every item's options and every painting readable, before any work."""
        for styles in dict.fromkeys(item.styles for item in items):
            pairs = self._styles(Item("", "", styles))
            if sum(weight for _, weight in pairs) <= 0:
                raise ValueError(f"style weights must have a positive sum: {list(styles)}")
            for path, _ in pairs:
                image_io.check_image_file(path)
        for item in items:
            self.options(item)

    def __call__(self, item: Item) -> torch.Tensor:
        """Paint ``item``: (1,3,H,W) float32 in [0,1] on the CPU."""
        from ..pipeline import stylize

        image = stylize(item.photo, self._styles(item), self.options(item))
        return image_io.pil_to_tensor(image)

    def describe(self, item: Item) -> dict:
        return {"engine": self.name, "styles": list(item.styles),
                "config": self.options(item).to_dict()}
