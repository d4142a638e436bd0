"""Painting photos with a fast style network: choosing styles, one pass, tiles, colour.

Large images are painted in overlapping tiles, so memory depends on the tile, not the image.
Instance norm normalises each feature map by its statistics over the whole image; a tile on
its own would use its own statistics and paint differently from its neighbours (a seam). So
every tile uses the same statistics: those of the image shrunk to one tile's size
(``statistics_edge``), painted whole. The result differs slightly from painting the full-size
image whole (which, beyond memory, is not possible), as the shrunk image has more detail per
pixel; it has no seams. Each tile sees as many pixels of its neighbours beyond its own box as
the network reaches (``TransformerNet.reach``, rounded up to 16), starts on the stride-4 grid
of the whole image, and neighbours cross-fade in the middle of their overlap
(``tiling.tile_weights``), so with the whole image's statistics the tiles reproduce the whole
image to float rounding (tested).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import color, image_io, tiling
from ..devices import Runtime, resolve_runtime
from ..specs import parse_weighted
from ..style_folders import (BUNDLED_DIR, bundled_style_folder, bundled_styles, is_style_folder,
                             network_origin, user_styles)
from .config import DEFAULT_TILE, MIN_SIDE, ONE_PASS_SIDE
from .network import TransformerNet
from .store import FastStyles, StyleError, load_styles

def one_pass_side_and_tile(tile_size: int | None) -> tuple[int, int]:
    """(the longest side painted in one pass, the tiles' side) for a painter's ``tile_size``:
    a given size is both; None is ONE_PASS_SIDE and DEFAULT_TILE."""
    return (ONE_PASS_SIDE, DEFAULT_TILE) if tile_size is None else (tile_size, tile_size)


MIN_PAINT_EDGE = 512
"""Pictures whose long side is shorter are enlarged to it, painted, and shrunk back (bicubic,
antialiased). The bundled network learnt its strokes on photos 320 to 1024 px long (its
config's ``photo_edge``), so painted directly at 256 px its strokes are as large as the cat's
eyes and the photo is lost. On 15 pairs at 256 px (held-out photos chelsea,
friends_by_Aitzol_Berasategi and leuvenA; starry_night, great_wave, the_scream,
composition_vii, woman_with_a_hat), painterly's fp32 objective at the output size, medians:
style 1.448 and content 1.269 painted directly, 1.46 and 1.046 this way; at 320 px, 1.114 /
1.229 against 1.17 / 1.127. The shrink's filter matters: bilinear gave 1.615 / 1.02 at 256 px,
PIL's Lanczos (not in PyTorch) 1.419 / 1.056."""
PreserveColor = str  # "none" | "luminance" | "histogram"


def parse_style_spec(spec: str) -> tuple[str, float]:
    """``NAME|FOLDER[:WEIGHT]`` -> (NAME or FOLDER, weight); the weight defaults to 1.

    Parsed as the optimiser's STYLE[:WEIGHT] (:func:`painterly.specs.parse_weighted`);
    ``starry_night:abc`` is a bad weight, not an unknown style. Raises StyleError.
    """
    try:
        return parse_weighted(spec, exists=_is_style)
    except ValueError as exc:
        raise StyleError(str(exc)) from None


def _is_style(name: str) -> bool:
    try:
        locate_style(name)
    except StyleError:
        return False
    return True


def locate_style(name: str) -> tuple[Path, str | None]:
    """A style's folder and its name there (None: the folder's only style).

    Looked up as: a bundled style (its own network where one ships,
    :func:`~painterly.style_folders.bundled_style_folder`), a style under the user's styles
    folder, a style folder, or ``FOLDER/NAME`` for one style of a folder that holds several.
    """
    if name in bundled_styles():
        return bundled_style_folder(name), name
    mine = user_styles()
    if name in mine:
        return mine[name], name
    path = Path(name)
    if is_style_folder(path):
        return path, None
    if is_style_folder(path.parent):
        return path.parent, path.name
    known = bundled_styles() + sorted(mine)
    raise StyleError(f"no fast style {name!r}: not a style folder, and not one of "
                     f"{', '.join(known) or 'the bundled styles (none installed)'}")


def load_mix(specs: Sequence[str]) -> tuple[FastStyles, torch.Tensor]:
    """Load the network the styles in ``specs`` belong to; returns it and the (S,) weights.

    Several styles are blended by their weights (normalised to sum to one), through their
    norms' scales and shifts (Dumoulin et al. 2017), so they must share one network: a blend of
    bundled styles uses the network they all share, one bundled style its own where it ships.
    """
    located = _locate_mix(specs)
    styles = load_styles(located[0][0])
    mix = torch.zeros(len(styles.names))
    for _, style, weight, name in located:
        if style is None and len(styles.names) > 1:
            raise StyleError(f"{name!r} holds several styles ({', '.join(styles.names)}); "
                             f"name one as {name}/STYLE")
        mix[styles.index(style) if style else 0] += weight
    if not mix.sum() > 0:
        raise StyleError("style weights must not all be 0")
    return styles, mix / mix.sum()


def mix_network(specs: Sequence[str]) -> str:
    """Which network paints the styles in ``specs``
    (:func:`~painterly.style_folders.network_origin`), found without
    reading its weights; StyleError as :func:`load_mix`."""
    return network_origin(_locate_mix(specs)[0][0])


def _locate_mix(specs: Sequence[str]) -> list[tuple[Path, str | None, float, str]]:
    """[(resolved folder, style name there or None, weight, name as given)] for ``specs``,
    all in one network (see :func:`load_mix`); StyleError otherwise."""
    if not specs:
        raise StyleError("give at least one --style")
    named = [parse_style_spec(spec) for spec in specs]
    names = {name for name, _ in named}
    shared = len(names) > 1 and names <= set(bundled_styles())
    located = []
    for name, weight in named:
        folder, style = (BUNDLED_DIR, name) if shared else locate_style(name)
        located.append((folder.resolve(), style, weight, name))
    if len({folder for folder, *_ in located}) > 1:
        raise StyleError("styles from different networks cannot be blended; train them into one "
                         "network with `painterly train --add-to`")
    return located


def styles_for_paintings(pairs) -> tuple[FastStyles, torch.Tensor] | None:
    """The fast styles trained on these paintings: [(painting, weight), ...] -> the network
    and its (S,) weights, or None when a painting is not a file or has no fast style.
    Paintings are recognised by their files' SHA-256, as recorded in each style folder's
    config.json."""
    from ..models.weights import file_sha256

    trained = _trained_paintings()
    specs = []
    for painting, weight in pairs:
        if not isinstance(painting, (str, Path)) or not Path(painting).is_file():
            return None
        found = trained.get(file_sha256(Path(painting)))
        if found is None:
            return None
        folder, name = found
        specs.append(f"{name if folder == BUNDLED_DIR else folder / name}:{weight}")
    return load_mix(specs)


def _trained_paintings() -> dict[str, tuple[Path, str]]:
    """{painting SHA-256: (style folder, style name)} over the bundled and the user's styles."""
    folders = ([BUNDLED_DIR] if bundled_styles() else []) + sorted(set(user_styles().values()))
    found: dict[str, tuple[Path, str]] = {}
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        for style in config.get("styles", []):
            if "painting_sha256" in style:
                found.setdefault(style["painting_sha256"], (folder, style["name"]))
    return found


class FastPainter:
    """A loaded network with a chosen mix of styles; call it to paint.

    ``painter(image)``: image (B,3,H,W) float in [0,1] on any device -> (B,3,H,W) float32 in
    [0,1] on the CPU. Images larger than ``tile_size`` on a side are painted in tiles of that
    size; with no tile_size, images up to ONE_PASS_SIDE in one pass and larger ones in tiles
    of DEFAULT_TILE.
    preserve_color: "none"; "luminance" keeps the photo's colours (the painting's lightness
    only, as ``stylize``); "histogram" recolours the result to the photo's colour mean and
    covariance. min_edge: smaller pictures are painted at this long side and shrunk back
    (MIN_PAINT_EDGE; None, or a tile size below it, paints every picture at its own size).
    """

    def __init__(self, styles: FastStyles, mix: torch.Tensor, *, runtime: Runtime | None = None,
                 tile_size: int | None = None, tile_overlap: int = 64,
                 preserve_color: PreserveColor = "none", min_edge: int | None = MIN_PAINT_EDGE):
        self.one_pass_side, tile_size = one_pass_side_and_tile(tile_size)
        if preserve_color not in ("none", "luminance", "histogram"):
            raise ValueError(f"preserve_color must be none, luminance or histogram; got {preserve_color!r}")
        if tile_size < 2 * tile_overlap + 32:
            raise ValueError(f"tile_size must be at least twice tile_overlap + 32, got {tile_size}")
        # Direct convolutions (no Winograd): the network's are small and dilated.
        self.runtime = dataclasses.replace(runtime or resolve_runtime(), winograd=False)
        self.names = styles.names
        self.net: TransformerNet = styles.network.to(
            self.runtime.device, self.runtime.dtype, memory_format=self.runtime.memory_format).eval()
        self.mix = mix.to(self.runtime.device)
        self.tile_size, self.tile_overlap = tile_size, tile_overlap
        self.tile_context = -(-self.net.reach // 16) * 16  # pixels a tile sees beyond its box
        self.preserve_color = preserve_color
        self.statistics_edge = tile_size
        self.min_edge = min_edge

    def describe(self) -> str:
        """Where and how it paints, for the user: wholly in the runtime's precision."""
        return self.runtime.describe(fp32=None)

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if min(image.shape[-2:]) < MIN_SIDE:
            h, w = image.shape[-2:]
            raise ValueError(f"the picture is {w}x{h} px; a fast style needs at least {MIN_SIDE} px "
                             "on each side")
        image = image.to(self.runtime.device, torch.float32)
        if self.min_edge and max(image.shape[-2:]) < self.min_edge <= self.one_pass_side:
            painted = self._enlarged(image)
        elif max(image.shape[-2:]) <= self.one_pass_side:
            painted = self._run(image)
        else:
            painted = torch.cat([self._tiled(one[None]) for one in image])
        return self._colour(painted, image).cpu()

    @torch.no_grad()
    def _run(self, image: torch.Tensor) -> torch.Tensor:
        x = image.to(self.runtime.dtype).contiguous(memory_format=self.runtime.memory_format)
        return self.net(x, self.mix).float().clamp_(0, 1)

    def _enlarged(self, image: torch.Tensor) -> torch.Tensor:
        """(B,3,h,w) -> (B,3,h,w): painted at long side min_edge (see MIN_PAINT_EDGE)."""
        painted = self._run(image_io.resize_long_edge(image, self.min_edge))
        return F.interpolate(painted, size=image.shape[-2:], mode="bicubic", align_corners=False,
                             antialias=True).clamp_(0, 1)

    def _colour(self, painted: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
        if self.preserve_color == "luminance":
            return color.recombine_chroma(painted, photo).clamp_(0, 1)
        if self.preserve_color == "histogram":
            return torch.cat([color.match_color(p[None], c[None]) for p, c in zip(painted, photo)])
        return painted

    def _tiled(self, image: torch.Tensor) -> torch.Tensor:
        """One (1,3,H,W) image in tiles sharing every norm's statistics (see the module doc)."""
        h, w = image.shape[-2:]
        scale = min(1.0, self.statistics_edge / max(h, w))
        small = image if scale == 1.0 else F.interpolate(image, scale_factor=scale, mode="area")
        if min(small.shape[-2:]) < MIN_SIDE:  # a long, narrow picture: keep the short side
            small = F.interpolate(image, size=(max(MIN_SIDE, round(h * scale)),
                                               max(MIN_SIDE, round(w * scale))), mode="area")
        out = torch.zeros_like(image)
        try:
            self._set_fixed(self._statistics(small))
            boxes = tiling.tile_boxes(h, w, self.tile_size, self.tile_overlap)
            weights = tiling.tile_weights(h, w, self.tile_size, self.tile_overlap)
            for (top, left, bottom, right), weight in zip(boxes, weights):
                painted = self._paint_box(image, (top, left, bottom, right))
                out[..., top:bottom, left:right] += painted * weight.to(out.device)
        finally:
            self._set_fixed(None)
        return out

    def _paint_box(self, image: torch.Tensor, box: tiling.Box) -> torch.Tensor:
        """Paint ``box`` of image with the network's reach around it; returns the box only."""
        h, w = image.shape[-2:]
        top, left, bottom, right = box
        context = self.tile_context
        # Windows start on multiples of 4, so the two stride-2 convolutions sample the same
        # grid as they would on the whole image.
        y0, x0 = (max(0, top - context) // 4) * 4, (max(0, left - context) // 4) * 4
        y1, x1 = min(h, bottom + context), min(w, right + context)
        painted = self._run(image[..., y0:y1, x0:x1])
        return painted[..., top - y0:bottom - y0, left - x0:right - x0]

    def _statistics(self, image: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every norm's (mean, variance) when painting ``image`` whole."""
        norms = self.net.norms()
        for norm in norms:
            norm.tally = []
        try:
            self._run(image)
            return [_finish_tally(norm.tally) for norm in norms]
        finally:
            for norm in norms:
                norm.tally = None

    def _set_fixed(self, stats) -> None:
        for i, norm in enumerate(self.net.norms()):
            norm.fixed = None if stats is None else stats[i]


def _finish_tally(tally: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """[sum, sum of squares, count] -> (mean, variance), each (1,C,1,1)."""
    total, squares, count = tally
    mean = total / count
    var = (squares / count - mean**2).clamp_min(0)
    return mean.view(1, -1, 1, 1), var.view(1, -1, 1, 1)
