"""painterly: neural style transfer (Gatys, Ecker & Bethge 2015) that works offline.

>>> import painterly
>>> image = painterly.stylize("photo.jpg", "painting.jpg", painterly.StyleConfig(size=512))
>>> image.save("out.png")
>>> painterly.fast_stylize("photo.jpg", "starry_night").save("fast.png")  # one pass
"""

from .config import StyleConfig
from .fast import fast_stylize
from .optimize import Progress
from .pipeline import Interrupted, stylize

__all__ = ["StyleConfig", "Progress", "Interrupted", "stylize", "fast_stylize"]
__version__ = "0.1.0"
