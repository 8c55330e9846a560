"""Batches on a Dask cluster: `map_batch` runs each partition of a bag as a batch.

The helper lives with the batch runner (`predictions.batch._dask`); this is
its documented import path. Needs the `dask` extra:
`pip install "wriftai-predictions[dask]"`.
"""

from predictions.batch._dask import map_batch

__all__ = ["map_batch"]
