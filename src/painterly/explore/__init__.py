"""See what the network sees: neurons, layer reconstructions and the paper's figures.

Style transfer is also a way to understand a convolutional network (Zeiler & Fergus 2014;
Gatys, Ecker & Bethge 2015): early channels look for edges, contrasts and colours, later
ones for textures and parts, the deepest for object-like parts; deep layers carry content,
the correlations of shallow ones texture. Each function returns an :class:`ExploreResult`
(a labelled grid image and the numbers behind it) and reports progress to ``callback``:

* :func:`visualize_neurons`: images that excite single channels most (activation
  maximisation in a decorrelated Fourier basis with transformation robustness);
* :func:`reconstruct_content`: an image rebuilt from white noise using one layer (Fig. 1, top);
* :func:`reconstruct_style`: textures from growing sets of style layers (Fig. 1, bottom);
* :func:`tradeoff_grid`: stylisations by style weight and deepest style layer (Fig. 3);
* :func:`activation_maps`: where a layer's strongest channels respond on an image;
* :func:`make_figures`: all of the above on the bundled images, as JPEGs for the README.

Every function takes ``extractor=None`` (painterly's VGG19) or any
:class:`~painterly.models.vgg.FeatureExtractor`, and ``device``/``precision`` as the CLI does.
The command line is :data:`painterly.explore.commands.explore` (``painterly explore ...``).
"""

import importlib

_EXPORTS = {
    "activation_maps": ".activations", "top_channels": ".activations",
    "ExploreProgress": ".common", "ExploreResult": ".common", "parse_channels": ".common",
    "make_figures": ".figures", "render_grid": ".grid", "visualize_neurons": ".neurons",
    "paper_name": ".reconstruct", "reconstruct_content": ".reconstruct",
    "reconstruct_style": ".reconstruct", "paper_ratio": ".tradeoff", "tradeoff_grid": ".tradeoff",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Imported on first use (PEP 562), as the package ``painterly`` does: ``painterly
    explore --help`` then needs no PyTorch."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
