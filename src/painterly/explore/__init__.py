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

from .activations import activation_maps, top_channels
from .common import ExploreProgress, ExploreResult, parse_channels
from .figures import make_figures
from .grid import render_grid
from .neurons import visualize_neurons
from .reconstruct import paper_name, reconstruct_content, reconstruct_style
from .tradeoff import paper_ratio, tradeoff_grid

__all__ = ["ExploreProgress", "ExploreResult", "activation_maps", "make_figures",
           "paper_name", "paper_ratio", "parse_channels", "reconstruct_content",
           "reconstruct_style", "render_grid", "top_channels", "tradeoff_grid",
           "visualize_neurons"]
