"""Training the VGG19 decoders of universal style transfer, on photos alone.

Li et al. (2017, Sec. 3.1): each decoder learns to invert VGG19 at its layer, with a pixel
reconstruction loss plus a feature loss (the decoded picture, encoded again, should give the
same features). No painting is needed: any photos do.

Departures from Li et al.:
- the feature loss is divided by the mean square of the layer's features, so one weight serves
  every layer whatever its scale (Li et al. weigh it 1 against pixels in [0,255]);
- ``transfer_fraction``: part of each batch is first given another photo's feature mean and
  covariance (the WCT the decoders meet when painting, with a photo standing in for the
  painting) and trained by the feature loss alone, as it has no pixels to match. Decoders
  trained on photos' own features only decoded WCT'd relu4_1 features 2-4x less faithfully
  (relative feature error 0.24-0.46 against 0.11-0.16), which loses the painting's
  statistics on the way to pixels. ``whitening_ridge`` whitens them as painting does
  (``wct.WHITENING_RIDGE``);
- ``grid_weight``: a penalty on the part of the decoded picture's fine detail that repeats
  with the decoder's upsampling period (``losses.grid_energy``). The feature loss is taken
  through VGG19's max pooling, whose windows always sit on the same grid of the picture, and
  a decoder can lower it by painting the same small pattern into every window: a grid the eye
  sees in flat areas (the checkerboard artefacts Odena et al. 2016 trace to upsampling).

Checkpoints go to ``<out>/checkpoint-<layer>.pt`` every few minutes and on Ctrl-C;
``resume=True`` continues from one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import losses
from ..models.vgg import FeatureExtractor
from .decoders import Decoder
from .photos import PhotoPool, find_photos
from .store import write_atomically
from .train import (TrainingInterrupted, TrainProgress, _hardware, _jsonable, learning_rate_factor,
                    training_runtime)

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DecoderConfig:
    """Settings of one decoder's training run."""

    steps: int = field(default=3000, metadata={"help": "optimiser steps (batches)"})
    batch_size: int = 4
    crop_size: int = 128
    learning_rate: float = 1e-3
    feature_weight: float = 1.0
    photo_edge: tuple[int, int] = (320, 1024)
    decay: float = 0.3
    transfer_fraction: float = field(default=0.0, metadata={
        "help": "share of each batch whose features take another photo's statistics first"})
    whitening_ridge: float = field(default=0.0, metadata={
        "help": "ridge of those transfers' whitening (see wct.WHITENING_RIDGE)"})
    grid_weight: float = field(default=0.0, metadata={
        "help": "weight of the penalty on detail repeating with the upsampling period"})
    checkpoint_minutes: float = 5.0
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.crop_size, int) or not 32 <= self.crop_size <= 1024:
            raise ValueError(f"crop_size must be an integer from 32 to 1024, got {self.crop_size!r}")
        for name in ("learning_rate", "feature_weight", "whitening_ridge", "grid_weight",
                     "checkpoint_minutes", "decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not (isinstance(self.transfer_fraction, (int, float))
                and 0 <= self.transfer_fraction <= 1):
            raise ValueError(f"transfer_fraction must be from 0 to 1, got {self.transfer_fraction!r}")


def train_decoder(
    layer: str,
    photos: str | os.PathLike,
    out: str | os.PathLike,
    config: DecoderConfig = DecoderConfig(),
    *,
    resume: bool = False,
    callback: Callable[[TrainProgress], None] | None = None,
    extractor: FeatureExtractor | None = None,
    shallower: Decoder | None = None,
    initial: Decoder | None = None,
) -> tuple[Decoder, dict]:
    """Train the decoder for ``layer`` on random crops of the photos under ``photos``
    (relu1_1's, which is linear, is solved by least squares over ``config.steps`` batches).

    extractor: the encoder (default VGG19 with max pooling, as Li et al.). shallower: the
    trained decoder one block up, to start from (see :func:`_warm_start`). initial: a trained
    decoder for ``layer`` whose training this run continues (its weights are copied). Returns the
    decoder (fp32, eval mode) and its training record for ``config.json``. Raises
    TrainingInterrupted on Ctrl-C after writing a checkpoint into ``out``.
    """
    out = Path(out)
    runtime = training_runtime(config.device, config.precision)
    pool = PhotoPool(find_photos(photos))
    if extractor is None:
        from ..pipeline import load_vgg19
        extractor = load_vgg19(None, "auto", "max")
    encoder = extractor.truncated(layer).to(runtime.device)
    if layer == "relu1_1":
        return _least_squares(encoder, pool, config, runtime.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        decoder = Decoder(layer).to(runtime.device)
    if initial is not None:
        decoder.load_state_dict(initial.state_dict())
    optimizer = torch.optim.Adam(decoder.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    checkpoint = out / f"checkpoint-{layer}.pt"
    resumed = resume and checkpoint.is_file()
    start, spent = _resume(checkpoint, decoder, optimizer, generator) if resumed else (0, 0.0)
    if not resumed and initial is None:
        decoder.input_scale.fill_(_feature_rms(encoder, layer, pool, config, runtime.device) ** -1)
        if shallower is not None:
            _warm_start(decoder, shallower)
    autocast = (contextlib.nullcontext() if runtime.dtype == torch.float32
                else torch.autocast(runtime.device.type, dtype=runtime.dtype))

    def step(number: int) -> dict[str, float]:
        batch = pool.sample(config.batch_size, config.crop_size, generator,
                            tuple(config.photo_edge)).to(runtime.device)
        with autocast:
            total, terms = _decoder_loss(decoder, encoder, layer, batch, config)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * learning_rate_factor(number, config.steps, config.decay)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        if not math.isfinite(terms["total"]):
            raise FloatingPointError("the decoder's loss became NaN or infinite; lower the learning rate")
        return terms

    state = (decoder, optimizer, generator)
    seconds = _run_steps(step, start, spent, config, checkpoint, state, callback)
    start_from = {"continued": True} if initial is not None else {
        "warm_start": shallower.layer if shallower is not None else None}
    record = _record(layer, config, pool, seconds, runtime.describe(), **start_from)
    checkpoint.unlink(missing_ok=True)
    return decoder.eval().requires_grad_(False).cpu(), record


def _decoder_loss(decoder: Decoder, encoder, layer: str, photos: torch.Tensor,
                  config: DecoderConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """photos (B,3,H,W) in [0,1] -> (the loss to minimise, its terms as numbers).

    The last ``transfer_fraction`` of the batch is decoded from transferred features (see
    :func:`_with_transfers`) and judged by the feature loss alone; the others by both losses.
    """
    transfers = round(config.transfer_fraction * config.batch_size)
    with torch.no_grad():
        target = _with_transfers(encoder(photos, [layer])[layer].float(), transfers,
                                 config.whitening_ridge)
    decoded = decoder(target.to(photos.dtype))
    again = encoder(decoded, [layer])[layer].float()
    own = config.batch_size - transfers  # the photos whose features were left as they are
    pixel = F.mse_loss(decoded[:own].float(), photos[:own]) if own else decoded.new_zeros(())
    feature = F.mse_loss(again, target) / target.pow(2).mean().clamp_min(1e-8)
    total = pixel + config.feature_weight * feature
    terms = {"pixel": pixel.item(), "feature": feature.item()}
    if config.grid_weight:
        grid = losses.grid_energy(decoded.float(), decoder.upsampling)
        total = total + config.grid_weight * grid
        terms["grid"] = grid.item()
    return total, {**terms, "total": total.item()}


def _run_steps(step: Callable[[int], dict[str, float]], start: int, spent: float,
               config: DecoderConfig, checkpoint: Path, state: tuple,
               callback: Callable[[TrainProgress], None] | None) -> float:
    """Run ``step`` for steps start+1 .. config.steps, writing a checkpoint of ``state``
    (decoder, optimizer, generator) every ``checkpoint_minutes`` and on Ctrl-C (then raising
    TrainingInterrupted). Returns the seconds of the whole training, ``spent`` included."""
    clock, last, done = time.perf_counter() - spent, time.perf_counter(), start
    try:
        for number in range(start + 1, config.steps + 1):
            terms = step(number)
            done = number
            now = time.perf_counter()
            saved = now - last >= config.checkpoint_minutes * 60
            if saved:
                _save_checkpoint(checkpoint, number, now - clock, *state)
                last = now
            if callback is not None:
                callback(TrainProgress(number, config.steps, terms, now - clock, saved))
    except KeyboardInterrupt:
        _save_checkpoint(checkpoint, done, time.perf_counter() - clock, *state)
        raise TrainingInterrupted(checkpoint, done) from None
    return time.perf_counter() - clock


def _with_transfers(features: torch.Tensor, count: int, ridge: float = 0.0) -> torch.Tensor:
    """features (B,C,h,w) float32 -> the same, the last ``count`` whitened (with ``ridge``)
    and coloured with the mean and covariance of the sample before each (Li et al.'s WCT at
    strength 1)."""
    if count == 0:
        return features
    from .wct import content_transform, feature_stats, whiten_colour
    batch = features.shape[0]
    moved = [whiten_colour(features[i:i + 1], [(feature_stats(features[i - 1:][:1]), 1.0)],
                           transform=content_transform(features[i:i + 1], ridge))
             for i in range(batch - count, batch)]
    return torch.cat([features[:batch - count], *moved])


def _warm_start(decoder: Decoder, shallower: Decoder) -> None:
    """Start ``decoder`` from the decoder one block up.

    A departure from Li et al., who train each decoder from scratch. The relu4_1 decoder ends
    with the very convolutions of the relu3_1 decoder (from relu3_1's features down to
    pixels); those are copied, and the whole decoder then trains as usual, at Li et al.'s
    small step size (1e-4): at ten times that, relu4_1's decoder collapsed to one flat colour
    within a few hundred steps. Training the new layers alone first, to give relu3_1's
    features, did not pay: after 1500 such steps they were still 70% off.
    """
    tail = len(shallower.body)
    with torch.no_grad():
        for mine, theirs in zip(decoder.body[-tail:].parameters(), shallower.body.parameters(),
                                strict=True):
            mine.copy_(theirs)


@torch.no_grad()
def _least_squares(encoder, pool: PhotoPool, config: DecoderConfig, device) -> tuple[Decoder, dict]:
    """relu1_1's decoder, one 3x3 convolution, fitted in closed form.

    The decoder is linear in the features, so its pixel loss is least squares: with each
    pixel's 3x3 neighbourhood of features (and a 1) as a row of A and the pixel as a row of
    Y, the weights solve (AᵀA + λI) W = AᵀY, summed over ``config.steps`` batches of crops.
    A departure from Li et al., who train every decoder by gradient descent: after 3000 Adam
    steps this one was still about 10 dB short of the solution. The feature loss is left
    out; at the pixel optimum it is small as well.
    """
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)
    decoder = Decoder("relu1_1")
    decoder.input_scale.fill_(_feature_rms(encoder, "relu1_1", pool, config, device) ** -1)
    conv = decoder.body[0].conv
    width = conv.in_channels * 9 + 1
    gram = torch.zeros(width, width, dtype=torch.float64)
    cross = torch.zeros(width, 3, dtype=torch.float64)
    for _ in range(config.steps):
        photos = pool.sample(config.batch_size, config.crop_size, generator,
                             tuple(config.photo_edge)).to(device)
        features = encoder(photos, ["relu1_1"])["relu1_1"].float() * decoder.input_scale
        rows = F.unfold(F.pad(features, (1, 1, 1, 1), mode="reflect"), 3)  # (B, C*9, H*W)
        rows = torch.cat([rows, torch.ones_like(rows[:, :1])], 1).transpose(1, 2)
        rows = rows.reshape(-1, width).double().cpu()
        pixels = photos.flatten(2).transpose(1, 2).reshape(-1, 3).double().cpu()
        gram += rows.T @ rows
        cross += rows.T @ pixels
    ridge = 1e-6 * gram.diagonal().mean() * torch.eye(width, dtype=torch.float64)
    solution = torch.linalg.solve(gram + ridge, cross)  # (C*9+1, 3)
    conv.weight.copy_(solution[:-1].T.reshape(conv.weight.shape))
    conv.bias.copy_(solution[-1])
    record = _record("relu1_1", config, pool, time.perf_counter() - started, str(device),
                     method="least squares")
    return decoder.eval().requires_grad_(False), record


def _record(layer: str, config: DecoderConfig, pool: PhotoPool, seconds: float, device: str,
            **extra) -> dict:
    """How a decoder was made, for ``config.json``."""
    return {"layer": layer, **extra, "train": _jsonable(asdict(config)), "photos": len(pool),
            "encoder_pooling": "max", "seconds": round(seconds), "hardware": _hardware(),
            "device": device}


@torch.no_grad()
def _feature_rms(encoder, layer: str, pool: PhotoPool, config: DecoderConfig, device) -> float:
    """Root mean square of ``layer``'s features over 16 random crops (own generator, so the
    training batches do not depend on it)."""
    crops = pool.sample(16, config.crop_size, torch.Generator().manual_seed(config.seed + 1),
                        tuple(config.photo_edge))
    return encoder(crops.to(device), [layer])[layer].float().pow(2).mean().sqrt().item()


def _save_checkpoint(path: Path, step: int, seconds: float, decoder, optimizer, generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"step": step, "seconds": seconds, "model": decoder.state_dict(),
             "optimizer": optimizer.state_dict(), "generator": generator.get_state()}
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def _resume(path: Path, decoder, optimizer, generator) -> tuple[int, float]:
    if not path.is_file():
        return 0, 0.0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        decoder.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        raise ValueError(f"cannot resume from {str(path)!r}: {str(error).splitlines()[0]}") from None
    log.info("resuming %s from step %d", path.name, state["step"])
    return int(state["step"]), float(state["seconds"])
