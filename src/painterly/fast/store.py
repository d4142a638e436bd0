"""Fast styles on disk: a folder with ``config.json`` and ``model.safetensors``.

One folder holds one network and the names of the styles it paints (Dumoulin et al.'s
conditional instance norm keeps many styles in one network). The bundled styles live in the
package; a user's own styles live wherever ``painterly train -o`` put them, and those under
:func:`~painterly.style_folders.user_styles_dir` are listed by ``painterly styles`` and can be
named like bundled ones (:mod:`painterly.style_folders` finds them).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import image_io
from ..style_folders import FORMAT, is_style_folder
from .network import NetworkShape, TransformerNet


class StyleError(ValueError):
    """A fast style that cannot be found or read; the message is one line."""


@dataclass
class FastStyles:
    """A loaded network and the names of its styles (row i of every norm is style i)."""

    network: TransformerNet
    names: list[str]
    config: dict
    folder: Path | None = None

    def index(self, name: str) -> int:
        if name not in self.names:
            raise StyleError(f"{self.label} has no style {name!r}; it has {', '.join(self.names)}")
        return self.names.index(name)

    @property
    def label(self) -> str:
        return f"style folder {str(self.folder)!r}" if self.folder else "this network"


def save_styles(styles: FastStyles, folder: str | os.PathLike,
                dtype: torch.dtype = torch.float32) -> Path:
    """Write the network (its weights as ``dtype``; they are read back as fp32) and its config
    into ``folder``, each file atomically.

    The weights are written before ``config.json``, so a folder with a config always has the
    weights it describes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = styles.network
    config = dict(styles.config, format=FORMAT, version=1, network=net.shape.to_dict(),
                  styles=_style_records(styles))
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in net.state_dict().items()}
    write_atomically(folder / "model.safetensors", lambda tmp: save_file(tensors, tmp))
    write_atomically(folder / "config.json",
            lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    styles.folder = folder
    return folder


def _style_records(styles: FastStyles) -> list[dict]:
    known = {s["name"]: s for s in styles.config.get("styles", []) if isinstance(s, dict)}
    return [known.get(name, {"name": name}) for name in styles.names]


def load_styles(folder: str | os.PathLike) -> FastStyles:
    """Read a style folder; StyleError (one line) if it is missing, incomplete or corrupt."""
    folder = Path(folder)
    name = str(folder)
    if not is_style_folder(folder):
        raise StyleError(f"{name!r} is not a fast style folder (it needs config.json and "
                         "model.safetensors)")
    try:
        config = json.loads((folder / "config.json").read_text())
        if config.get("format") != FORMAT:
            raise StyleError(f"{name!r}/config.json is not a painterly fast style")
        names = [s["name"] for s in config["styles"]]
        shape = NetworkShape(**config["network"])
        state = load_file(folder / "model.safetensors")
    except StyleError:
        raise
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as error:
        raise StyleError(f"cannot read style folder {name!r}: {_reason(error)}") from None
    net = TransformerNet(len(names), shape)
    try:
        net.load_state_dict(state)
    except RuntimeError as error:
        raise StyleError(f"cannot read style folder {name!r}: weights do not match its "
                         f"config ({str(error).splitlines()[0]})") from None
    if not all(torch.isfinite(t).all() for t in state.values()):
        raise StyleError(f"cannot read style folder {name!r}: weights contain NaN or inf")
    return FastStyles(net.eval().requires_grad_(False), names, config, folder)


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if not isinstance(error, KeyError) else f"missing entry {text}"


def write_atomically(path: Path, write) -> None:
    """``write(temporary path)``, flush it to disk, then rename it to ``path``
    (:func:`painterly.image_io.replacing`); the file gets the permissions the umask gives new
    files (safetensors writes 0600)."""
    with image_io.replacing(Path(path), overwrite=True, errors=()) as tmp:
        write(str(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
