"""Time-series cleaning (nilearn.signal equivalent): detrend, filter, censor, confounds, standardise."""
from ._clean import clean
from ._confounds import high_variance_confounds, load_confounds_array, read_confounds_file
from ._detrend import standardize_signal
from ._filters import butterworth, check_t_r
from ._sample_mask import check_sample_mask_index, check_sample_masks

__all__ = [
    "clean",
    "butterworth",
    "standardize_signal",
    "high_variance_confounds",
    "load_confounds_array",
    "read_confounds_file",
    "check_t_r",
    "check_sample_mask_index",
    "check_sample_masks",
]
