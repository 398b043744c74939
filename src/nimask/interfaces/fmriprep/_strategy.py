"""``load_confounds_strategy``: :func:`load_confounds` with the parameters of a named preset."""
from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..._warnings import find_stack_level
from ...exceptions import NimaskWarning, ParameterError
from ._load import load_confounds

__all__ = ["load_confounds_strategy", "preset_strategies"]

#: The presets: the components of each and the :func:`load_confounds` parameters it sets.
#: Every key but ``strategy`` and ``ica_aroma`` may be overridden by a keyword argument; ``global_signal``
#: (None in every preset) adds the global signal when given.
preset_strategies: dict[str, dict[str, Any]] = {
    "simple": {
        "strategy": ("high_pass", "motion", "wm_csf"),
        "motion": "full",
        "wm_csf": "basic",
        "global_signal": None,
        "demean": True,
    },
    "scrubbing": {
        "strategy": ("high_pass", "motion", "wm_csf", "scrub"),
        "motion": "full",
        "wm_csf": "full",
        "scrub": 5,
        "fd_threshold": 0.5,
        "std_dvars_threshold": 1.5,
        "global_signal": None,
        "demean": True,
    },
    "compcor": {
        "strategy": ("high_pass", "motion", "compcor"),
        "motion": "full",
        "n_compcor": "all",
        "compcor": "anat_combined",
        "global_signal": None,
        "demean": True,
    },
    "ica_aroma": {
        "strategy": ("high_pass", "wm_csf", "ica_aroma"),
        "wm_csf": "basic",
        "ica_aroma": "full",
        "global_signal": None,
        "demean": True,
    },
}


def load_confounds_strategy(
    img_files: str | Sequence[str] | Sequence[Sequence[str]],
    denoise_strategy: Literal["simple", "scrubbing", "compcor", "ica_aroma"] = "simple",
    **kwargs: Any,
) -> tuple[pd.DataFrame | list[pd.DataFrame] | None, np.ndarray | list[np.ndarray | None] | None]:
    """Denoising confounds of fMRIPrep runs from a preset strategy.

    Calls :func:`~nimask.interfaces.fmriprep.load_confounds` with the components and
    parameters of ``denoise_strategy`` (``preset_strategies``), the ones given in ``kwargs``
    replacing the preset's. Results equal nilearn 0.14.1's.

    ==========  =========  ======  =====  =====  ============  ===================  ==============  =========  =========
    preset      high_pass  motion  wm_csf scrub  fd_threshold  std_dvars_threshold  compcor         n_compcor  ica_aroma
    ==========  =========  ======  =====  =====  ============  ===================  ==============  =========  =========
    simple      yes        full*   basic* --     --            --                   --              --         --
    scrubbing   yes        full*   full*  5*     0.5*          1.5*                 --              --         --
    compcor     yes        full*   --     --     --            --                   anat_combined*  all*       --
    ica_aroma   yes        --      basic* --     --            --                   --              --         full
    ==========  =========  ======  =====  =====  ============  ===================  ==============  =========  =========

    ``*``: may be given in ``kwargs``. Every preset also accepts ``global_signal`` (not used
    unless given: then the global signal at that level is added) and ``demean`` (True).

    Parameters
    ----------
    img_files : str, path, or list
        As in :func:`~nimask.interfaces.fmriprep.load_confounds`. The ``"ica_aroma"`` preset
        needs the ``*_desc-smoothAROMAnonaggr_bold.nii.gz`` images (fMRIPrep < 24 with
        ``--use-aroma``).
    denoise_strategy : {"simple", "scrubbing", "compcor", "ica_aroma"}, default="simple"
        * ``"simple"``: motion (24), WM and CSF means and cosine drifts;
        * ``"scrubbing"``: the same with WM/CSF expansions (8), and censoring of high-motion
          volumes (framewise displacement > 0.5 mm or standardised DVARS > 1.5, and the kept
          segments shorter than 5 volumes);
        * ``"compcor"``: motion (24), anatomical CompCor (combined mask, all components) and
          cosine drifts;
        * ``"ica_aroma"``: WM and CSF means and cosine drifts, for the ICA-AROMA denoised image.
    **kwargs
        Parameters of :func:`~nimask.interfaces.fmriprep.load_confounds` that the preset
        accepts (see the table). Others are ignored with a warning naming them.

    Returns
    -------
    confounds : DataFrame, list of DataFrame, or None
    sample_mask : ndarray, list, or None
        As :func:`~nimask.interfaces.fmriprep.load_confounds` returns them.

    Raises
    ------
    ParameterError
        ``denoise_strategy`` is not a preset (a ``ValueError``), or a parameter is invalid.

    Warns
    -----
    NimaskWarning
        Parameters given that the preset does not use.
    """
    if not isinstance(denoise_strategy, str) or denoise_strategy not in preset_strategies:
        raise ParameterError(
            f"'denoise_strategy' must be one of {preset_strategies.keys()}.\n'{denoise_strategy}' was provided.",
            param="denoise_strategy", expected=list(preset_strategies), found=denoise_strategy,
        )
    parameters = copy.deepcopy(preset_strategies[denoise_strategy])
    accepted = [name for name in parameters if name not in ("strategy", "ica_aroma")]
    ignored = [name for name in kwargs if name not in accepted]
    if ignored:
        warnings.warn(
            f"The following parameters are not needed for the selected strategy '{denoise_strategy}': {ignored}; "
            f"parameters accepted: {accepted}",
            NimaskWarning, stacklevel=find_stack_level(),
        )
    # nilearn 0.14.1 keeps the preset's value for a parameter given as None (std_dvars_threshold=None does
    # not turn DVARS scrubbing off): the same here, said in a warning rather than silently
    kept = [name for name, value in kwargs.items()
            if name in accepted and value is None and parameters[name] is not None]
    if kept:
        warnings.warn(
            f"load_confounds_strategy('{denoise_strategy}'): {', '.join(f'{k}=None' for k in kept)} keeps the "
            f"preset's value ({', '.join(f'{k}={parameters[k]!r}' for k in kept)}), as in nilearn: None is not "
            f"an override here. To turn that option off, call load_confounds with the preset's parameters.",
            NimaskWarning, stacklevel=find_stack_level(),
        )
    parameters.update({name: value for name, value in kwargs.items() if name in accepted and value is not None})
    if parameters["global_signal"] is not None:
        parameters["strategy"] = (*parameters["strategy"], "global_signal")
    else:
        del parameters["global_signal"]
    return load_confounds(img_files, **parameters)
