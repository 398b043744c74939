"""The parameter and attribute entries that several maskers share, for their class docstrings.

A class docstring names a shared entry by a line holding only ``%(key)s``; :func:`fill_doc`
replaces that line by the entry, indented as the line was. An unknown key fails at import.
Entries specific to one masker (and its Multi variant) are keyed ``"<kind>.<name>"``.
"""
from __future__ import annotations

import re
import textwrap

__all__ = ["DOCS", "fill_doc"]

DOCS: dict[str, str] = {
    # ---- signal parameters of every masker ---------------------------------------------------
    "smoothing_fwhm": """\
smoothing_fwhm : float or None, default=None
    Full width at half maximum, in mm, of a Gaussian kernel applied to each volume before
    the signals are taken (after any resampling). None: no smoothing.""",
    "standardize": """\
standardize : {"zscore_sample", "psc", True, False, None}, default=False
    Scaling of each output column, last step of the cleaning. "zscore_sample": zero mean,
    unit standard deviation (n - 1 denominator); "psc": percent change from the column's
    mean; False or None: no scaling. True means "zscore_sample"; booleans are deprecated
    (a FutureWarning, as nilearn).""",
    "standardize_confounds": """\
standardize_confounds : bool, default=True
    Z-score each confound over time before it is regressed out, so that its units do not
    matter.""",
    "high_variance_confounds": """\
high_variance_confounds : bool, default=False
    Add 5 nuisance signals to the confounds: the main components of the voxels with the
    highest variance in the raw image (a CompCor-like model).""",
    "detrend": """\
detrend : bool, default=False
    Remove the linear trend of each output column (and of the confounds), run by run.""",
    "low_pass": """\
low_pass : float or None, default=None
    Low-pass cut-off in Hz: faster fluctuations are removed (Butterworth filter unless
    ``clean_args`` chooses another). Needs ``t_r``.""",
    "high_pass": """\
high_pass : float or None, default=None
    High-pass cut-off in Hz: slower drifts are removed. Needs ``t_r``.""",
    "t_r": """\
t_r : float or None, default=None
    Repetition time of the images, in seconds. Needed by the filters; checked at ``fit``
    (a value that is not positive, or above 100 s, which looks like milliseconds, raises).""",
    "dtype": """\
dtype : None, "auto" or numpy dtype, default=None
    Data type of the output signals. None: nilearn's type for the image (float32 for
    float32 images; labels: float64 for integer images); "auto": int32 for integer
    images, float32 otherwise. A boolean dtype is refused. Region signals (labels, maps,
    spheres) are computed and cleaned in float64 whatever the image type and only the
    output is cast, so that an int16, uint8 or float32 run gives its float64 copy's output
    within 1e-6 (nilearn: up to 1e-4 for a large mean with a small variance; it also
    truncates the sphere means of integer images). Voxel maskers keep float32 voxel
    matrices (half the memory), already within 1e-6.""",
    "memory": """\
memory : None, str, pathlib.Path or joblib.Memory, default=None
    Cache for the steps that are worth keeping between calls (computed masks, the
    extraction of each image). Entries are keyed by the content of the input files, so a
    file rewritten in place is never served stale. None: nothing is cached.""",
    "memory_level": """\
memory_level : int, default={default}
    0: no cache; 1 or more: cache with ``memory`` (nimask has a single caching level, so
    every level above 0 caches the same steps). A ``memory`` given with level 0 is used at
    level 1, with a warning; the parameter itself is never changed.""",
    "verbose": """\
verbose : bool or int, default=0
    Progress messages printed on the standard output: 0 (or False) prints nothing; 1 (or
    True) one line per step of ``fit``, ``transform`` and ``inverse_transform``; 2 adds the
    details of each step (shapes, numbers of voxels or regions, durations).""",
    "reports": """\
reports : bool, default=True
    Record, during ``fit`` and ``transform``, what ``generate_report`` shows: the warnings
    raised, where each image came from and a sample of the extracted signals. False
    records nothing, and ``generate_report`` then warns and gives a page without figures.""",
    "clean_args": """\
clean_args : dict or None, default=None
    Extra keyword arguments of the signal cleaning (:func:`nimask.signal.clean`), for
    example ``{"filter": "cosine"}`` or ``{"butterworth__order": 3}``; ``{"censor": "zero"}`` or
    ``{"censor": "interpolate"}`` (nimask) keeps the volumes ``sample_mask`` censors, as zeros or
    interpolated, instead of removing them.""",
    "n_jobs": """\
n_jobs : int, default=1
    Number of images of a list processed at the same time, in threads (-1: one per CPU).
    The fitted masker is shared by the threads, never copied.""",
    # ---- fitted attributes of every masker -------------------------------------------------
    "clean_args_": """\
clean_args_ : dict
    The ``clean_args`` in use (an empty dict when ``clean_args`` is None).""",
    "memory_": """\
memory_ : joblib.Memory
    The cache in use (its ``location`` is None when nothing is cached).""",
    # ---- NiftiMasker, MultiNiftiMasker -------------------------------------------------------
    "voxels.mask_img": """\
mask_img : 3D niimg-like or None, default=None
    Binary mask (zeros and one other value) of the voxels to extract. None: ``fit``
    computes a mask from its images with ``mask_strategy``.""",
    "voxels.runs": """\
runs : array of shape (n_volumes,) or None, default=None
    Run label of each volume when one 4D image holds several runs: each run is detrended,
    filtered and cleaned on its own, and the output rows come grouped by run, in sorted
    label order.""",
    "voxels.target_affine": """\
target_affine : array of shape (3, 3) or (4, 4), or None, default=None
    Grid of the output voxels: the mask is resampled to it at ``fit`` (nearest neighbour)
    and each image onto the mask grid at ``transform``. A 3x3 affine only sets the voxel
    size and orientation.""",
    "voxels.target_shape": """\
target_shape : tuple of 3 int or None, default=None
    Shape of the target grid; needs a 4x4 ``target_affine``.""",
    "voxels.mask_strategy": """\
mask_strategy : {"background", "epi", "whole-brain-template", "gm-template", \
"wm-template"}, default="background"
    How ``fit`` computes the mask when ``mask_img`` is None: "background" keeps the
    voxels whose mean differs from the value of the image border (or the non-NaN voxels
    when the border is NaN); "epi" keeps the bright part of the mean image (EPI runs); the
    template strategies keep the whole brain, the grey matter or the white matter of a
    template resampled onto the images (nimask ships no template: give one in
    ``mask_args``).""",
    "voxels.mask_args": """\
mask_args : dict or None, default=None
    Extra keyword arguments of the mask computation chosen by ``mask_strategy``, for
    example ``{"lower_cutoff": 0.3}`` for "epi" or ``{"template": img}`` for the template
    strategies. Keys that computation does not take are dropped with a warning.""",
    "voxels.cmap": """\
cmap : str or matplotlib colormap, default="gray"
    Kept for compatibility with nilearn's signature; nimask's report draws the mask with
    its own colours.""",
    "voxels.kwargs": """\
kwargs : dict
    Only ``sessions`` is accepted: the old name of ``runs`` (a DeprecationWarning). Any
    other keyword is a TypeError.""",
    "voxels.affine_": """\
affine_ : array of shape (3, 3) or (4, 4)
    ``target_affine`` when given, else the affine of the mask.""",
    "voxels.mask_img_": """\
mask_img_ : Nifti1Image
    The mask in use, uint8 zeros and ones, on the grid of the outputs.""",
    "voxels.n_elements_": """\
n_elements_ : int
    Number of voxels in the mask: the number of output columns.""",
    # ---- NiftiLabelsMasker, MultiNiftiLabelsMasker -------------------------------------------
    "labels.labels_img": """\
labels_img : 3D niimg-like or None, default=None
    Atlas of integer labels: the voxels holding one value form one region;
    ``background_label`` marks the voxels of no region. ``fit`` needs it.""",
    "labels.labels": """\
labels : list of str or None, default=None
    Region names, one per label value present in the atlas, in increasing order of value
    and background included. Not together with ``lut``.""",
    "labels.lut": """\
lut : pandas.DataFrame, str, pathlib.Path or None, default=None
    Look-up table of the atlas (a BIDS-style ``dseg.tsv``): an ``index`` column of label
    values and a ``name`` column. Not together with ``labels``.""",
    "labels.background_label": """\
background_label : int or float, default=0
    Label value of the voxels that belong to no region.""",
    "labels.mask_img": """\
mask_img : 3D niimg-like or None, default=None
    Binary mask: atlas voxels outside it are left out of every region.""",
    "labels.resampling_target": """\
resampling_target : {"data", "labels", None}, default="data"
    Grid the extraction runs on when the atlas and the images differ: "data" resamples
    the atlas (and mask) onto the images (nearest neighbour), "labels" the images onto the
    atlas; None refuses different grids.""",
    "labels.strategy": """\
strategy : {"mean", "median", "sum", "minimum", "maximum", "standard_deviation", \
"variance"}, default="mean"
    Statistic of the voxel values of a region that makes its signal.""",
    "labels.keep_masked_labels": """\
keep_masked_labels : bool, default=False
    True: a region that ``mask_img`` removes entirely still gives a column, of zeros.
    Deprecated (nilearn 0.15 removes it): a FutureWarning.""",
    "labels.cmap": """\
cmap : str, matplotlib colormap or None, default={default}
    Colours of the regions in the report (None: matplotlib's default colormap).""",
    "labels.keep_all_regions": """\
keep_all_regions : bool, default=False
    nimask only: one column for every label of the atlas (and of ``lut``), in increasing
    order of value, NaN for a region the mask or the resampling left empty; the output
    columns then never depend on the data grid.""",
    "labels.min_coverage": """\
min_coverage : float in [0, 1] or None, default=None
    nimask only: a region keeping less than this fraction of its atlas volume after
    masking and resampling gives a NaN column (``region_coverage_`` says why).""",
    "labels.labels_": """\
labels_ : list
    Label values of the atlas on the fit grid: the background first when present, then
    the label of each output column.""",
    "labels.labels_img_": """\
labels_img_ : Nifti1Image
    The atlas in use: resampled onto the fit images for ``resampling_target="data"``.""",
    "labels.lut_": """\
lut_ : pandas.DataFrame
    Look-up table of the atlas, one row per label value (background included): ``index``
    and ``name``.""",
    "labels.mask_img_": """\
mask_img_ : Nifti1Image or None
    The binary mask in use, on the grid of ``labels_img_``; None without ``mask_img``.""",
    "labels.n_elements_": """\
n_elements_ : int
    Number of output columns (regions).""",
    "labels.region_atlas_": """\
region_atlas_ : Nifti1Image
    ``labels_img_`` after masking: the voxels each output column is taken from.""",
    "labels.region_coverage_": """\
region_coverage_ : pandas.DataFrame
    One row per output column: label value (``index``), ``name``, voxels in the atlas
    (``voxels_in_atlas``, atlas grid) and kept on the fit grid (``voxels_kept``), the
    ``fraction`` of its volume kept, and the ``reason`` of a NaN column.""",
    "labels.region_ids_": """\
region_ids_ : dict
    Label value of each output column, keyed by column index (and the background label
    under "background" when the atlas has background voxels).""",
    "labels.region_names_": """\
region_names_ : dict
    Name of each output column, keyed by column index.""",
    # ---- NiftiMapsMasker, MultiNiftiMapsMasker -----------------------------------------------
    "maps.maps_img": """\
maps_img : 4D niimg-like or None, default=None
    One weighted map per volume (a 3D image is one map); maps may overlap. The signal of
    each map is its least-squares weight in each volume. ``fit`` needs it.""",
    "maps.mask_img": """\
mask_img : 3D niimg-like or None, default=None
    Binary mask: only the voxels inside it enter the least-squares fit.""",
    "maps.allow_overlap": """\
allow_overlap : bool, default=True
    False: weights below machine epsilon are set to zero and a voxel where two maps are
    nonzero raises an error (naming the pair).""",
    "maps.resampling_target": """\
resampling_target : {"data", "mask", "maps", None}, default="data"
    Grid the extraction runs on when maps, mask and images differ: the images' ("data"),
    the mask's or the maps' grid; the maps are resampled linearly, the mask by nearest
    neighbour. None refuses different grids.""",
    "maps.keep_masked_maps": """\
keep_masked_maps : bool, default=False
    True: a map that is zero inside ``mask_img`` still gives a column, of zeros.
    Deprecated (nilearn 0.15 removes it): a FutureWarning.""",
    "maps.cmap": """\
cmap : str or matplotlib colormap, default="CMRmap_r"
    Colours of the maps in the report.""",
    "maps.maps_img_": """\
maps_img_ : Nifti1Image
    The 4D maps in use (float, non-finite values set to 0), resampled onto the target
    grid of ``resampling_target`` when known at ``fit``.""",
    "maps.mask_img_": """\
mask_img_ : Nifti1Image or None
    The binary mask in use; None without ``mask_img``.""",
    "maps.min_coverage": """\
min_coverage : float in [0, 1] or None, default=None
    nimask only: when set, one output column per map; a map keeping less than this
    fraction of its summed absolute weight inside the mask (on the extraction grid), and
    a map that is all zero or outside the mask, gives a NaN column (``region_coverage_``
    says why). None: nilearn's output.""",
    "maps.region_coverage_": """\
region_coverage_ : pandas.DataFrame
    One row per map: its position (``index``), ``name``, summed absolute weight on the
    fit grid (``weight_in_map``) and inside the mask (``weight_kept``), their ratio
    (``fraction``) and the ``reason`` of a NaN (or dropped) column.""",
    "maps.n_elements_": """\
n_elements_ : int
    Number of maps: the number of output columns.""",
}


def _entry(key: str) -> str:
    if "=" in key:  # "labels.cmap=None": an entry with its default filled in
        key, default = key.split("=", 1)
        return DOCS[key].replace("{default}", default)
    return DOCS[key]


_PLACEHOLDER = re.compile(r"^(?P<indent>[ ]*)%\((?P<key>[\w.]+(?:=[^)]*)?)\)s[ ]*$", re.M)


def fill_doc(cls: type) -> type:
    """Replace each ``%(key)s`` line of ``cls.__doc__`` by the entry ``key`` of :data:`DOCS`."""
    if cls.__doc__:  # None under ``python -OO``
        cls.__doc__ = _PLACEHOLDER.sub(lambda m: textwrap.indent(_entry(m["key"]), m["indent"]), cls.__doc__)
    return cls
