"""painterly: neural style transfer (Gatys, Ecker & Bethge 2015) that works offline.

>>> import painterly
>>> image = painterly.stylize("photo.jpg", "painting.jpg", painterly.StyleConfig(size=512))
>>> image.save("out.png")
"""

from .config import StyleConfig
from .optimize import Progress
from .pipeline import Interrupted, stylize

__all__ = ["StyleConfig", "Progress", "Interrupted", "stylize"]
__version__ = "0.1.0"
