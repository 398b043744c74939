"""pytest plugin (``-p _nilearn_patch``): nilearn's ``load_confounds`` and
``load_confounds_strategy`` replaced by nimask's, before nilearn's own tests import them."""
import nilearn.interfaces.fmriprep as _nl

from nimask.interfaces import fmriprep as _nm

_nl.load_confounds = _nm.load_confounds
_nl.load_confounds_strategy = _nm.load_confounds_strategy
