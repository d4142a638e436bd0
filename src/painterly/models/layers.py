"""VGG19's layer names and shapes (Simonyan & Zisserman 2014, configuration E)."""

from __future__ import annotations

from collections.abc import Iterable

# Output channels of each conv layer, block by block.
BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


def _names() -> tuple[str, ...]:
    names = []
    for block, (_, convs) in enumerate(BLOCKS, start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


LAYER_NAMES: tuple[str, ...] = _names()
"""Every named layer in forward order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, ... pool5."""

CONV_NAMES: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))
"""The 16 conv layers, conv1_1 ... conv5_4."""


def conv_channels() -> dict[str, tuple[int, int]]:
    """(in_channels, out_channels) of each conv layer, keyed by name."""
    shapes, in_ch = {}, 3
    for block, (out_ch, convs) in enumerate(BLOCKS, start=1):
        for i in range(1, convs + 1):
            shapes[f"conv{block}_{i}"] = (in_ch, out_ch)
            in_ch = out_ch
    return shapes


def layer_channels(name: str) -> int:
    """Number of channels a named layer outputs."""
    check_layer_names([name])
    block = int(name[4] if name.startswith("pool") else name[4])
    return BLOCKS[block - 1][0]


def check_layer_names(names: Iterable[str]) -> None:
    """Raise ValueError naming the first unknown layer and listing the valid names."""
    for name in names:
        if name not in LAYER_NAMES:
            raise ValueError(f"unknown layer {name!r}; valid layers: {', '.join(LAYER_NAMES)}")


def deepest(names: Iterable[str]) -> str:
    """The layer of ``names`` that comes last in the network."""
    names = list(names)
    check_layer_names(names)
    return max(names, key=LAYER_NAMES.index)
