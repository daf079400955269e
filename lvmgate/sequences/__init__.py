"""Training sequences for the LVM (plan 2.1 / 4.1): windows, leak-proof splits, files, loader.

    from lvmgate.sequences import PrepareParams, prepare_sequences, write_prepared, SequenceSet
    prepared = prepare_sequences(store.articles(ds), store.vectors(ds), PrepareParams(5, 2))
    train = SequenceSet.load("artifacts/lvm/wikipedia_100k_ctx5.npz")   # bank from the store
    for ctx, tgt in train.batches(256, epoch=0): ...                     # (B, w, D), (B, D)

Windows are integer row positions into the dataset's vector bank (never copies of vectors); see
docs/sequences.md for the file formats and the split semantics.
"""

from lvmgate.sequences.augment import Augmentation
from lvmgate.sequences.content import RowScan, content_ids, duplicate_keys, repeated_within, scan_rows
from lvmgate.sequences.loader import PreparedSet, SequenceSet, covered_rows, meta_path_for, read_meta
from lvmgate.sequences.prepare import (
    META_FORMAT,
    PrepareCounts,
    PreparedSequences,
    PrepareParams,
    PrepareReport,
    prepare_dataset,
    prepare_sequences,
    set_paths,
    write_prepared,
)
from lvmgate.sequences.splits import SPLITS, assign_splits, check_fractions, select_articles
from lvmgate.sequences.windows import Windows, WindowStats, build_windows, window_counts

__all__ = [
    "META_FORMAT",
    "SPLITS",
    "Augmentation",
    "PrepareCounts",
    "PrepareParams",
    "PrepareReport",
    "PreparedSequences",
    "PreparedSet",
    "RowScan",
    "SequenceSet",
    "WindowStats",
    "Windows",
    "assign_splits",
    "build_windows",
    "check_fractions",
    "content_ids",
    "covered_rows",
    "duplicate_keys",
    "meta_path_for",
    "prepare_dataset",
    "prepare_sequences",
    "read_meta",
    "repeated_within",
    "scan_rows",
    "select_articles",
    "set_paths",
    "window_counts",
    "write_prepared",
]
