"""The fast engine's numbers and its training settings, in a module that imports no PyTorch:
the ``painterly`` commands build their options and ``--help`` from it at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import (MAX_SEED, MAX_SIZE, Precision, check_choice, check_device, check_int,
                      check_layers, check_number)

DEFAULT_SIZE = 1024
"""Long edge of a fast result when none is given."""
DEFAULT_TILE = 1024
ONE_PASS_SIDE = 2048
"""With no tile size given, pictures up to this long side are painted in one pass and larger
ones in tiles of DEFAULT_TILE. Tiles only pay beyond it: on a 2-core Xeon, `painterly fast
chelsea_cat --style woman_with_a_hat --size 2048` took 2.9 s and 0.83 GB in one pass against
4.2 s and 0.98 GB in 1024 px tiles, and a 1920x1080 frame 0.63-0.70 s against 2.6-3.6 s
(on an H200 the tiled frame took 86 ms, a 1024x576 one 10 ms). At 4096 px, tiles of 1024
took 7.7 s and 1.4 GB, tiles of 2048 13.3 s and 3.2 GB."""
MAX_DILATION = 2
"""The widest dilation a network may have (painting needs 4 * MAX_DILATION + 1 px a side)."""
MIN_SIDE = 4 * MAX_DILATION + 1
"""The residual blocks, at a quarter of the picture, reflect ``dilation`` responses at each
border: each side needs 9 pixels (3 responses) at a dilation of 2."""
CHECKPOINT = "checkpoint.pt"
ADD_TO_STEPS = 300
"""Default steps for ``add_to``: only the new styles' norms learn, so far fewer steps do."""
MAX_STEPS = 1_000_000
"""A bound that refuses typos: a million steps is weeks on a CPU."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Settings of one training run. The loss weights are ``StyleConfig``'s defaults."""

    steps: int = field(default=2100, metadata={"help": "optimiser steps (batches) in all"})
    batch_size: int = field(default=4, metadata={"help": "photo crops per step"})
    crop_size: int = field(default=128, metadata={"help": "side of each square training crop, in pixels"})
    learning_rate: float = field(default=2e-3, metadata={"help": "Adam step size"})
    content_weight: float = field(default=1.0, metadata={"help": "weight of the content loss"})
    style_weight: float = field(default=10.0, metadata={"help": "weight of the style loss"})
    tv_weight: float = field(default=2.0, metadata={"help": "weight of the total-variation loss"})
    grid_weight: float = field(default=0.0, metadata={"help": "weight of a penalty on the pattern "
                               "that repeats with the network's upsampling (losses.grid_energy)"})
    content_layers: tuple[str, ...] = ("relu4_2",)
    # relu5_1 is left out: on training crops of 128 px it is 8x8 responses, too few for its
    # 512x512 Gram matrix, and it costs a quarter of every step's VGG19 time. The bundled
    # network adds it in its last phases, on 256 and 384 px crops (scripts/train_bundled.sh).
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    style_size: int = field(default=512, metadata={"help": "long edge of each painting for its Gram matrices"})
    photo_edge: tuple[int, int] = (320, 1024)
    base_width: int = field(default=16, metadata={"help": "channels after the first conv of a new network"})
    residual_blocks: int = 5
    dilation: int = field(default=1, metadata={"help": "spacing of the residual blocks' 3x3 taps"})
    decay: float = field(default=0.3, metadata={"help": "fraction of the steps, at the end, over "
                                                "which the learning rate falls to a tenth (0: none)"})
    warmup: int = field(default=0, metadata={"help": "steps at the start over which the learning "
                                             "rate rises linearly to its full value"})
    checkpoint_minutes: float = field(default=5.0, metadata={"help": "minutes between checkpoints"})
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        # Bounds as in StyleConfig: a typo is refused at once, not after hours or gigabytes.
        for name, high in (("steps", MAX_STEPS), ("batch_size", 256), ("base_width", 256),
                           ("residual_blocks", 64), ("dilation", MAX_DILATION)):
            check_int(self, name, 1, high)
        check_int(self, "crop_size", 32, 1024)
        check_int(self, "style_size", 32, MAX_SIZE)
        check_int(self, "seed", 0, MAX_SEED)
        check_int(self, "warmup", 0, MAX_STEPS)
        for name in ("learning_rate", "content_weight", "style_weight", "tv_weight",
                     "grid_weight", "checkpoint_minutes", "decay"):
            check_number(self, name)
        if self.decay > 1:
            raise ValueError(f"decay must be between 0 and 1, got {self.decay!r}")
        if not self.learning_rate > 0 or not self.style_weight > 0:
            raise ValueError("learning_rate and style_weight must be > 0")
        check_layers(self, "content_layers", allow_empty=True)
        check_layers(self, "style_layers", allow_empty=False)
        edges = self.photo_edge
        if isinstance(edges, list):
            edges = tuple(edges)
            object.__setattr__(self, "photo_edge", edges)
        if not (isinstance(edges, tuple) and len(edges) == 2
                and all(isinstance(e, int) and not isinstance(e, bool) for e in edges)
                and 0 < edges[0] <= edges[1] <= MAX_SIZE):
            raise ValueError(f"photo_edge must be (low, high) with 0 < low <= high <= {MAX_SIZE}, "
                             f"got {edges!r}")
        check_choice(self, "precision", Precision)
        check_device(self)
