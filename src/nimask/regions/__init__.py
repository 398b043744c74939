"""Region extraction: signals of labels atlases, maps and spheres, and back to images.

The public functions follow nilearn 0.14.1's ``nilearn.regions`` names and semantics; the
``*_array``/operator helpers work on chunks of volumes for the maskers.
"""
from ._labels import img_to_signals_labels, signals_to_img_labels
from ._maps import img_to_signals_maps, signals_to_img_maps

__all__ = ["img_to_signals_labels", "signals_to_img_labels", "img_to_signals_maps", "signals_to_img_maps"]
