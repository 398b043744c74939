"""MultiNiftiMasker (placeholder; being written)."""
from .nifti_masker import NiftiMasker


class MultiNiftiMasker(NiftiMasker):
    pass
