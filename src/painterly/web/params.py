"""A job request's JSON -> the images it names and a validated :class:`StyleConfig`.

Only the fields in ``CLIENT_FIELDS`` may come from a client, each converted by the type of
its StyleConfig annotation (so defaults and types live in one place). Fields that name files
(``weights``, an ``init`` path) or pick hardware (``device``, ``precision``) stay with the
server. StyleConfig's own validation then gives the one-line messages.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Literal, get_args, get_origin

from .. import multiscale
from ..config import InitKind, StyleConfig
from ..errors import one_line
from .guards import shown

CLIENT_FIELDS = ("size", "iterations", "scales", "seed", "style_weight", "content_weight",
                 "tv_weight", "init", "optimizer", "pooling", "content_layers", "style_layers",
                 "preserve_color")
"""StyleConfig fields a request may set (those the installed StyleConfig has)."""

_CHOICES = {"init": get_args(InitKind)}  # init may also be a path in the library: not here


class ParamError(ValueError):
    """A bad request parameter; the message is one line naming it."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one job may ask for, so that a request cannot tie the machine up for hours.

    max_work bounds the whole schedule in steps of a 512 x 512 picture (a step's cost grows
    with its pixels; see :func:`work`). The size, iteration and scale bounds alone allowed
    2048 px x 2000 iterations x 5 scales: 20,000 steps, about 50,000 such units, days on a
    CPU. 2500 units admit a schedule of 100 iterations and 3 scales at the largest size,
    2048 px (2400 units; the default is 40 iterations), or 2000 steps at 512 px. At README's
    measured 0.46 s per 512 x 512 step (2-core CPU, bf16) that is about 20 minutes, under an
    hour in fp32 (1.3 s; the studio starts such a CPU at 256 px), and minutes on a GPU.
    """

    max_size: int = 2048
    max_iterations: int = 2000
    max_scales: int = 5
    max_work: int = 2500


def supports(name: str) -> bool:
    """True if the installed StyleConfig has a field ``name`` (e.g. preserve_color)."""
    return any(f.name == name for f in dataclasses.fields(StyleConfig))


def choices(name: str) -> list | None:
    """The values a StyleConfig field accepts, for the page's menus: a Literal's choices,
    ``[False, True]`` for a bool; None if the installed StyleConfig has no such field."""
    if not supports(name):
        return None
    hint = typing.get_type_hints(StyleConfig)[name]
    if hint is bool:
        return [False, True]
    return list(get_args(hint)) if get_origin(hint) is Literal else None


def parse_job(body: object, base: StyleConfig, limits: Limits) -> tuple[str, str, StyleConfig]:
    """Returns (content image id, style image id, config). Raises ParamError."""
    if not isinstance(body, dict):
        raise ParamError("the request body must be a JSON object")
    body = dict(body)
    images = [body.pop(key, None) for key in ("content", "style")]
    for key, value in zip(("content", "style"), images):
        if not isinstance(value, str) or not value:
            raise ParamError(f"{key} must be the id of an image (an example or an upload)")
    settable = {name for name in CLIENT_FIELDS if supports(name)}
    unknown = sorted(set(body) - settable)
    if unknown:
        raise ParamError(f"unknown parameter {shown(unknown[0])}; allowed: content, style, "
                         f"{', '.join(sorted(settable))}")
    hints = typing.get_type_hints(StyleConfig)
    changes = {name: _convert(name, value, hints[name]) for name, value in body.items()}
    _check_limits(changes, limits)
    try:
        config = base.replace(**changes)
    except (ValueError, TypeError) as exc:  # StyleConfig's checks name the setting
        raise ParamError(one_line(exc)) from None
    units = work(config)
    if units > limits.max_work:
        raise ParamError(
            f"the job is too long for the studio: size {config.size}, iterations "
            f"{config.iterations} and scales {config.scales} make {units:.0f} steps' worth at "
            f"512 px, and the limit is {limits.max_work}; lower one of them")
    return images[0], images[1], config


def work(config: StyleConfig) -> float:
    """The cost of a job's schedule in optimiser steps of a 512 x 512 picture: each step
    counted as its long edge squared (a real picture has at most that many pixels)."""
    stages = multiscale.schedule(config.size, config.scales, config.iterations,
                                 config.iterations_per_scale)
    return sum(stage.steps * (stage.long_edge / 512) ** 2 for stage in stages)


def _convert(name: str, value: object, hint) -> object:
    """A JSON value -> the annotation's type, or ParamError naming the parameter."""
    args = [arg for arg in get_args(hint) if arg is not type(None)]
    if type(None) in get_args(hint):
        if value is None:
            return None
        hint = args[0] if len(args) == 1 else hint
    choices = _CHOICES.get(name) or (get_args(hint) if get_origin(hint) is Literal else None)
    if choices:
        if value not in choices:
            raise ParamError(f"{name} must be one of {', '.join(choices)}; got {shown(value)}")
        return value
    if get_origin(hint) is tuple:
        item = get_args(hint)[0]
        if not isinstance(value, list):
            raise ParamError(f"{name} must be a list, got {shown(value)}")
        return tuple(_convert(name, v, item) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamError(f"{name} must be true or false, got {shown(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{name} must be a whole number, got {shown(value)}")
        return value
    if hint is float:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value)):
            raise ParamError(f"{name} must be a number, got {shown(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ParamError(f"{name} must be a string, got {shown(value)}")
        return value
    raise ParamError(f"{name} cannot be set from the studio")


def _check_limits(changes: dict, limits: Limits) -> None:
    """The studio's own bounds (StyleConfig checks the rest: the seed's range, for one)."""
    for name, limit in (("size", limits.max_size), ("iterations", limits.max_iterations),
                        ("scales", limits.max_scales)):
        value = changes.get(name)
        if isinstance(value, int) and value > limit:
            raise ParamError(f"{name} must be at most {limit} in the studio, got {value}")
