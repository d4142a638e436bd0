"""Training a fast style network against painterly's own perceptual objective.

Johnson et al. (2016): instead of optimising pixels for one photo, optimise a network's
weights so that its output for *any* photo scores well on the Gatys objective (content
loss to the photo, Gram style loss to the painting, total variation). The paintings' Gram
matrices are computed once; each step paints a batch of random photo crops, each in one of
the styles (Dumoulin et al. 2017 train many styles in one network through conditional
instance norm), and takes one Adam step.

``add_to`` trains new styles into an existing network by learning only their norm scales
and shifts: Dumoulin et al. (Sec. 4) show the rest of the network is shared by all styles.

Checkpoints (network, optimiser, random state, step) are written every few minutes and on
Ctrl-C to ``<out>/checkpoint.pt``; ``resume=True`` continues from it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from .. import losses
from ..cpuinfo import cpu_model
from ..devices import Runtime, resolve_runtime
from ..image_io import load_image
from ..models.layers import deepest
from ..models.vgg import FeatureExtractor
from ..models.weights import file_sha256
from .config import CHECKPOINT, TrainConfig
from .network import ConditionalInstanceNorm, NetworkShape, TransformerNet, embed_state
from .photos import PhotoPool, find_photos
from .store import FastStyles, load_styles, save_styles, write_atomically

log = logging.getLogger(__name__)
MAX_FAILED_STEPS = 10
"""Batches in a row whose gradients overflow before training stops as diverged."""


@dataclass(frozen=True)
class TrainProgress:
    """One training step, as reported to a callback (losses are the batch's weighted terms)."""

    step: int
    steps: int
    losses: dict[str, float]
    elapsed: float
    checkpointed: bool = False

    @property
    def eta(self) -> float:
        """Seconds left at this run's average pace so far."""
        return self.elapsed / max(self.step, 1) * (self.steps - self.step)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; a checkpoint was written to ``checkpoint``."""

    def __init__(self, checkpoint: Path, step: int):
        super().__init__(f"interrupted at step {step}")
        self.checkpoint = checkpoint
        self.step = step


@dataclass
class _Teacher:
    """VGG19 and the fixed style targets: grams[layer] is (S,C,C), one row per style."""

    vgg: FeatureExtractor
    grams: dict[str, torch.Tensor]
    layers: tuple[str, ...]


def train(
    paintings: Sequence[str | os.PathLike],
    photos: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig = TrainConfig(),
    *,
    names: Sequence[str] | None = None,
    add_to: str | os.PathLike | FastStyles | None = None,
    continue_from: str | os.PathLike | FastStyles | None = None,
    resume: bool = False,
    callback: Callable[[TrainProgress], None] | None = None,
    extractor: FeatureExtractor | None = None,
) -> FastStyles:
    """Train a network that paints ``paintings``; write it to the folder ``out``.

    names: a style name per painting (default: each file's stem).
    continue_from: a style folder trained on these paintings, or on more paintings among
    which these are (by name): train all of its weights further, with this run's settings (a
    second phase of training). From more paintings, only these styles' scales and shifts are
    kept, and the shared weights then serve these paintings alone (a specialised network).
    add_to: an existing style folder (or loaded styles): keep its network and styles, learn
    only the new styles' norm parameters. extractor: the teacher network (default VGG19).
    Raises TrainingInterrupted on Ctrl-C, after writing a checkpoint.
    """
    out = Path(out)
    names = style_names(paintings, names)
    runtime = training_runtime(config.device, config.precision)
    pool = PhotoPool(find_photos(photos))
    if add_to is not None and continue_from is not None:
        raise ValueError("give add_to or continue_from, not both")
    base = _load_base(add_to)
    styles = _new_styles(base, names, paintings, config, len(pool))
    if continue_from is not None:
        _continue(styles, _load_base(continue_from))
    frozen = len(base.names) if base else 0
    teacher = _teacher(extractor, paintings, config, runtime)
    net = styles.network.train().to(runtime.device)
    trainable = _trainable(net, frozen)
    optimizer = torch.optim.Adam(trainable, lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    start, spent = _resume(out, net, optimizer, generator, styles.names) if resume else (0, 0.0)
    loop = _Loop(net, teacher, pool, config, runtime, generator, optimizer, frozen, len(names))
    seconds = loop.run(start, spent, out, styles, callback)
    styles.config["training"][-1].update(steps=config.steps, seconds=round(seconds),
                                         device=runtime.describe())
    styles.network = net.eval().requires_grad_(False).cpu()
    save_styles(styles, out)
    (out / CHECKPOINT).unlink(missing_ok=True)
    return styles


def style_names(paintings: Sequence[str | os.PathLike], names: Sequence[str] | None = None
                ) -> list[str]:
    """A style name per painting: ``names``, or each file's stem; ValueError unless one
    distinct name per painting."""
    names = list(names) if names is not None else [Path(p).stem for p in paintings]
    if len(names) != len(paintings) or len(set(names)) != len(names):
        raise ValueError("give one distinct style name per painting")
    return names


def _load_base(add_to) -> FastStyles | None:
    if add_to is None or isinstance(add_to, FastStyles):
        return add_to
    return load_styles(add_to)


def check_continuable(names: Sequence[str], earlier: FastStyles) -> None:
    """ValueError (one line) unless ``earlier`` paints every style in ``names``."""
    missing = [name for name in names if name not in earlier.names]
    if missing:
        raise ValueError(f"the network to continue paints {', '.join(earlier.names)}, "
                         f"not {', '.join(missing)}")


def _continue(styles: FastStyles, earlier: FastStyles) -> None:
    """Start from ``earlier``'s weights (of these styles' rows, where it paints more styles);
    its training record comes first in this one's."""
    check_continuable(styles.names, earlier)
    # A new dilation keeps every weight's shape: the earlier weights start the wider network.
    # More residual blocks are appended after the earlier ones, each starting as the identity
    # (its second norm's scale and shift zero, as Goyal et al. 2017 start residual blocks), and
    # more channels are added as Chen et al. (2016, Net2Net) widen a network: the deeper or
    # wider network first paints exactly as the earlier one did.
    shape, was = styles.network.shape, earlier.network.shape
    if shape.residual_blocks < was.residual_blocks or shape.base < was.base:
        raise ValueError(f"the network to continue has another shape ({was.base} base channels, "
                         f"{was.residual_blocks} residual blocks) than these settings ask for "
                         f"({shape.base}, {shape.residual_blocks}): it can gain channels or "
                         f"blocks, not lose them")
    rows = [earlier.names.index(name) for name in styles.names]
    state = earlier.network.state_dict()
    for prefix, module in earlier.network.named_modules():
        if isinstance(module, ConditionalInstanceNorm):  # row i: style i's scale and shift
            for key in (f"{prefix}.scale", f"{prefix}.shift"):
                state[key] = state[key][rows]
    styles.network.load_state_dict(embed_state(state, styles.network.state_dict()), strict=False)
    with torch.no_grad():
        for block in styles.network.residual[was.residual_blocks:]:
            block.second.norm.scale.zero_()
            block.second.norm.shift.zero_()
    phase = dict(styles.config["training"][-1], continued=True)
    if earlier.names != styles.names:
        phase["specialised_from"] = earlier.names
    styles.config["training"] = list(earlier.config.get("training", [])) + [phase]


def _new_styles(base: FastStyles | None, names, paintings, config: TrainConfig, photos: int) -> FastStyles:
    records = [{"name": n, "painting": Path(p).name, "painting_sha256": file_sha256(Path(p))}
               for n, p in zip(names, paintings)]
    recipe = {"train": _jsonable(asdict(config)), "photos": photos, "hardware": _hardware()}
    if base is None:
        with torch.random.fork_rng(devices=[]):  # the initial weights follow config.seed alone
            torch.manual_seed(config.seed)
            net = TransformerNet(len(names), NetworkShape(config.base_width, config.residual_blocks,
                                                               config.dilation))
        return FastStyles(net, list(names), {"styles": records, "training": [recipe]})
    clash = set(names) & set(base.names)
    if clash:
        raise ValueError(f"the network already has a style named {sorted(clash)[0]!r}")
    net = TransformerNet(len(base.names), base.network.shape)
    net.load_state_dict(base.network.state_dict())
    net.add_styles(len(names))
    config_dict = dict(base.config)
    config_dict["styles"] = list(base.config.get("styles", [])) + records
    config_dict["training"] = list(base.config.get("training", [])) + [dict(recipe, added=list(names))]
    return FastStyles(net, base.names + list(names), config_dict)


def _hardware() -> str:
    """``AMD EPYC, 2 CPUs, torch 2.13.0+cpu`` (and the GPU where one is used)."""
    model = cpu_model() or platform.processor() or platform.machine()
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{model}, {os.cpu_count()} CPUs{gpu}, torch {torch.__version__}"


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return list(value) if isinstance(value, tuple) else value


def _trainable(net: TransformerNet, frozen: int) -> list[torch.nn.Parameter]:
    """Every parameter for a new network; only the norms for a network with ``frozen`` styles
    kept (their rows' gradients are zeroed each step, so Adam leaves them exactly as they were)."""
    if frozen == 0:
        return list(net.parameters())
    net.requires_grad_(False)
    params = []
    for norm in net.norms():
        for p in (norm.scale, norm.shift):
            p.requires_grad_(True)
            params.append(p)
    return params


def training_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """The runtime training runs in: ``resolve_runtime``'s, with direct convolutions. On its
    128 px crops Winograd's (``models/winograd.py``) did not pay: 40 default steps took 47 s
    against 42-45 s on a 2-core AVX2 EPYC."""
    return replace(resolve_runtime(device, precision), winograd=False)


@torch.no_grad()
def _teacher(extractor, paintings, config: TrainConfig, runtime: Runtime) -> _Teacher:
    if extractor is None:
        from ..pipeline import load_vgg19
        extractor = load_vgg19(None, "auto", "avg")
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    vgg = extractor.truncated(deepest(layers)).to(runtime.device, memory_format=runtime.memory_format)
    per_layer: dict[str, list[torch.Tensor]] = {k: [] for k in config.style_layers}
    for painting in paintings:
        image = load_image(painting, long_edge=config.style_size).to(runtime.device)
        feats = vgg(image.contiguous(memory_format=runtime.memory_format), config.style_layers)
        for k in config.style_layers:
            per_layer[k].append(losses.gram_matrix(feats[k])[0])
    return _Teacher(vgg, {k: torch.stack(v) for k, v in per_layer.items()}, layers)


class _Loop:
    """The training steps, checkpoints and progress reports of one run."""

    def __init__(self, net, teacher, pool, config, runtime, generator, optimizer, frozen, new):
        self.net, self.teacher, self.pool, self.config = net, teacher, pool, config
        self.runtime, self.generator, self.optimizer = runtime, generator, optimizer
        self.frozen, self.new = frozen, new
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none.
        self.scaler = torch.amp.GradScaler(runtime.device.type,
                                           enabled=runtime.dtype == torch.float16)
        self.failed_in_a_row = 0

    def run(self, start: int, spent: float, out: Path, styles: FastStyles, callback) -> float:
        """Steps ``start+1 .. steps``; returns the run's seconds, ``spent`` before a resume included."""
        config, clock = self.config, time.perf_counter() - spent
        last_checkpoint = time.perf_counter()
        done = start  # steps whose update is in the network
        try:
            for step in range(start + 1, config.steps + 1):
                terms = self.step(step)
                done = step
                now = time.perf_counter()
                saved = now - last_checkpoint >= config.checkpoint_minutes * 60
                if saved:
                    self.checkpoint(out, step, styles, now - clock)
                    last_checkpoint = now
                if callback is not None:
                    callback(TrainProgress(step, config.steps, terms, now - clock, saved))
        except KeyboardInterrupt:
            path = self.checkpoint(out, done, styles, time.perf_counter() - clock)
            raise TrainingInterrupted(path, done) from None
        return time.perf_counter() - clock

    def step(self, step: int) -> dict[str, float]:
        """One Adam step on a fresh batch; returns its weighted loss terms."""
        config, runtime = self.config, self.runtime
        photos = self.pool.sample(config.batch_size, config.crop_size, self.generator,
                                  tuple(config.photo_edge)).to(runtime.device)
        photos = photos.contiguous(memory_format=runtime.memory_format)
        paintings = _balanced_ids(config.batch_size, self.new, self.generator)
        mix = torch.nn.functional.one_hot(self.frozen + paintings, self.net.styles).float()
        with self._autocast():
            painted = self.net(photos, mix.to(runtime.device))
            terms = self.objective(photos, painted, paintings.to(runtime.device))
        for group in self.optimizer.param_groups:
            group["lr"] = config.learning_rate * learning_rate_factor(step, config.steps, config.decay,
                                                                      config.warmup)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total"]).backward()
        self._keep_frozen_rows()
        if self.scaler.is_enabled() or self._finite_gradients():  # fp16: the scaler skips
            self.scaler.step(self.optimizer)
            self.failed_in_a_row = 0
        else:
            self._skip(step)
        self.scaler.update()
        return {k: v.item() for k, v in terms.items()}

    def _finite_gradients(self) -> bool:
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        return bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))

    def _skip(self, step: int) -> None:
        """Leave the network as it is after a batch whose gradients overflowed.

        In bf16 a crop with a nearly flat channel can blow up an instance norm (its scale is
        one over the channel's spread); one such batch in about two thousand gave infinite
        gradients, and an Adam step on them turned every weight into NaN. Skipping the batch
        is what mixed-precision loss scaling does for fp16. Many in a row mean training itself
        has diverged: FloatingPointError.
        """
        self.failed_in_a_row += 1
        log.warning("step %d: the gradients overflowed; the batch is skipped", step)
        if self.failed_in_a_row >= MAX_FAILED_STEPS:
            raise FloatingPointError(f"the training loss became NaN or infinite "
                                     f"{MAX_FAILED_STEPS} steps in a row; lower --learning-rate "
                                     "or use --precision fp32")

    def objective(self, photos, painted, paintings) -> dict[str, torch.Tensor]:
        """Weighted terms for a batch: painted (B,3,h,w) against the photos (B,3,h,w) and each
        one's painting (B,) (an index into this run's paintings)."""
        config, teacher = self.config, self.teacher
        with torch.no_grad():
            target = teacher.vgg(photos, config.content_layers)
        feats = teacher.vgg(painted.contiguous(memory_format=self.runtime.memory_format), teacher.layers)
        content = sum(losses.content_loss(feats[k], target[k]) for k in config.content_layers)
        content = content * (config.content_weight / max(len(config.content_layers), 1))
        style = sum(losses.style_layer_loss(feats[k], teacher.grams[k][paintings])
                    for k in config.style_layers) * (config.style_weight / len(config.style_layers))
        tv = losses.total_variation(painted) * config.tv_weight
        terms = {"content": content, "style": style, "tv": tv}
        if config.grid_weight:  # not in Johnson et al.: the 4 px screen nearest upsampling leaves
            terms["grid"] = losses.grid_energy(painted.float(), self.net.upsampling) * config.grid_weight
        return {**terms, "total": sum(terms.values())}

    def _autocast(self):
        if self.runtime.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.runtime.device.type, dtype=self.runtime.dtype)

    def _keep_frozen_rows(self) -> None:
        if not self.frozen:
            return
        for norm in self.net.norms():
            for p in (norm.scale, norm.shift):
                if p.grad is not None:
                    p.grad[: self.frozen] = 0

    def checkpoint(self, out: Path, step: int, styles: FastStyles, seconds: float) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        state = {"step": step, "seconds": seconds, "model": self.net.state_dict(),
                 "optimizer": self.optimizer.state_dict(),
                 "generator": self.generator.get_state(), "names": list(styles.names)}
        path = out / CHECKPOINT
        write_atomically(path, lambda tmp: torch.save(state, tmp))
        return path


def learning_rate_factor(step: int, steps: int, decay: float = 0.3, warmup: int = 0) -> float:
    """The learning rate's factor at ``step`` (1 to ``steps``).

    Over the first ``warmup`` steps it rises linearly to 1 (Goyal et al. 2017): Adam's first
    steps move every weight by about the full learning rate whatever its gradient, and on a
    trained network that is continued that throws the picture off (a style loss of 0.5 went
    to 4.7 after one step, and to 74 with new channels added) before it finds its way back.
    Then 1, and for the last ``decay`` of the steps down linearly to 0.1 at the last step:
    short runs end on small steps, which clears the last blotches out of the textures."""
    if step <= warmup:
        return step / warmup
    start = (1 - decay) * steps
    if step <= start or decay == 0:
        return 1.0
    return 1.0 - 0.9 * (step - start) / max(steps - start, 1)


def _balanced_ids(batch: int, styles: int, generator: torch.Generator) -> torch.Tensor:
    """(batch,) style indices covering every style as evenly as the batch allows."""
    rounds = -(-batch // styles)
    ids = torch.cat([torch.randperm(styles, generator=generator) for _ in range(rounds)])
    return ids[:batch]


def _resume(out: Path, net: TransformerNet, optimizer, generator: torch.Generator,
            names: list[str]) -> tuple[int, float]:
    """Load a checkpoint into the run; returns (steps done, seconds spent)."""
    path = out / CHECKPOINT
    if not path.is_file():
        raise ValueError(f"nothing to resume: {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["names"] != names:
            raise ValueError(f"it trains {', '.join(state['names'])}, not {', '.join(names)}")
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        raise ValueError(f"cannot resume from {str(path)!r}: {str(error).splitlines()[0]}") from None
    log.info("resuming from step %d", state["step"])
    return int(state["step"]), float(state["seconds"])
