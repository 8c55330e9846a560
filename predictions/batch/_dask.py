"""Batches on a Dask cluster: each partition of a bag is a batch of its own.

    import dask.bag as db
    from predictions.dask import map_batch

    rows = db.from_sequence(inputs, npartitions=8)
    results = map_batch(rows, "owner/model", client=client,
                        ledger_dir="/shared/ledgers").compute()

Every partition runs `run_batch` on a worker, with its own ledger
(`ledger_dir/part-00003.ledger`) and the client pickled to the worker (its
settings travel, its plugins too: they must pickle). The workers share the
account's one rate budget: each client's pacer learns it from the server's
`x-ratelimit-*` headers, and a 429 drawn by two workers at once is waited
out and retried, never raised.

Resuming needs each partition to find its ledger again: `ledger_dir` must be
a directory every worker can reach (one machine's disk for a `LocalCluster`;
a shared file system otherwise), and the bag must be split the same way.

Needs the `dask` extra: `pip install "wriftai-predictions[dask]"`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional

if TYPE_CHECKING:
    from predictions.client import Client


def map_batch(
    bag: Any,
    model: str,
    *,
    client: Client,
    ledger_dir: Optional[str] = None,
    **options: Any,
) -> Any:
    """Run a model over every item of a Dask bag, one batch per partition.

    Args:
        bag: A `dask.bag.Bag` of input mappings.
        model: The model reference.
        client: The client, pickled to every worker.
        ledger_dir: Where each partition keeps its ledger (made if missing);
            None keeps none (the batch cannot be resumed).
        **options: `run_batch`'s options (`concurrency`, `hold`, `key`,
            `exclude`, `retry_failed`...), for each partition. A field to
            exclude is not checked against the rows (a partition alone
            cannot tell that no row of the bag has it).

    Returns:
        A bag of `BatchResult`s, partitioned as `bag` (`.compute()` runs it).
        A row's `key` is its partition and its number there, `"3:17"`, or
        the value of its `key` field.

    Raises:
        ImportError: Dask is not installed.
        TypeError: An option is not one of `run_batch`'s, or is
            `outputs_dir`.
    """
    import dask
    import dask.bag

    if "outputs_dir" in options:  # rows are numbered alike in every partition
        raise TypeError(
            "map_batch does not take outputs_dir (the rows of two partitions "
            "would share folders); run_batch keeps the files of one batch"
        )
    unknown = set(options) - _OPTIONS
    if unknown:
        raise TypeError(f"unknown options for run_batch: {', '.join(sorted(unknown))}")
    if ledger_dir is not None:
        os.makedirs(ledger_dir, exist_ok=True)
    parts = bag.to_delayed()
    run = dask.delayed(run_partition, pure=False)
    return dask.bag.from_delayed(
        [
            run(part, index, model, client, ledger_dir, options)
            for index, part in enumerate(parts)
        ]
    )


_OPTIONS = {
    "key",
    "concurrency",
    "hold",
    "ordered",
    "retry_failed",
    "force",
    "poll_interval",
    "exclude",
}


def run_partition(
    rows: Iterable[Any],
    index: int,
    model: str,
    client: Client,
    ledger_dir: Optional[str],
    options: Dict[str, Any],
) -> List[Dict[str, Any]]:
    """Run one partition as a batch (on a worker); its results, in its order."""
    from predictions.batch import run_batch

    ledger = (
        None
        if ledger_dir is None
        else os.path.join(ledger_dir, f"part-{index:05d}.ledger")
    )
    results: List[Dict[str, Any]] = []
    # An iterator, read once: a partition is not checked for a field that no
    # row of it has to exclude (another partition's rows may have it).
    rows = iter(list(rows))
    with run_batch(rows, model, client=client, ledger=ledger, **options) as batch:
        for result in batch:
            if options.get("key") is None:
                result["key"] = f"{index}:{result['key']}"
            results.append(dict(result))
    return results


__all__ = ["map_batch", "run_partition"]
