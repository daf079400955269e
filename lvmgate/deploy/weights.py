"""Model weight size as shipped: a safetensors file, compressed, against the plan's 4 GB limit (read as 4 GiB).

The plan's 4.4 checklist asks "model weights < 4GB (compressed)". We write the state dict as
safetensors (no pickle, memory-mappable), stream it through a stdlib compressor (gzip by default;
lzma or bz2 on request; zstd when the `zstandard` package is installed) and report both sizes.
float32 weights compress poorly (~7-10%), so the compressed size is close to 4 bytes per parameter;
`estimate_bytes` gives that raw figure for a preset without building it.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvmgate.errors import InputError
from lvmgate.io import atomic_open
from lvmgate.results import Result

PLAN_LIMIT_BYTES = 4 * 2**30  # the plan's "4GB", read as GiB like every memory criterion (4.4.weights_gib)
CODECS = ("gzip", "lzma", "bz2", "zstd")
_CHUNK = 8 << 20


@dataclass(frozen=True)
class WeightsSize(Result):
    """Sizes of the model's weights as safetensors, raw and compressed, against the limit."""

    params: int
    dtype: str
    safetensors_bytes: int
    compressed_bytes: int
    codec: str
    ratio: float  # compressed / raw
    limit_bytes: int
    under_limit: bool  # compressed_bytes < limit_bytes
    path: str | None  # where the safetensors file was kept (None: measured in a temp dir)
    compressed_path: str | None
    seconds: float


def _compressor(codec: str, level: int | None):
    if codec == "gzip":
        return lambda fh: gzip.GzipFile(filename="", fileobj=fh, mode="wb", compresslevel=level or 6, mtime=0)
    if codec == "lzma":
        return lambda fh: lzma.LZMAFile(fh, mode="wb", preset=level if level is not None else 6)
    if codec == "bz2":
        return lambda fh: bz2.BZ2File(fh, mode="wb", compresslevel=level or 9)
    if codec == "zstd":
        try:
            import zstandard
        except ImportError:
            raise InputError("codec zstd needs the zstandard package; use gzip, lzma or bz2") from None
        return lambda fh: zstandard.ZstdCompressor(level=level or 3).stream_writer(fh, closefd=False)
    raise InputError(f"unknown codec {codec!r} (use {', '.join(CODECS)})")


def compress_file(
    src: str | os.PathLike, dst: str | os.PathLike, codec: str = "gzip", level: int | None = None
) -> int:
    """Stream `src` through `codec` into `dst` (atomically); returns the compressed size in bytes."""
    make = _compressor(codec, level)
    with atomic_open(dst, "wb") as out:
        writer = make(out)
        with open(src, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                writer.write(chunk)
        writer.close()
    return os.path.getsize(dst)


def weights_size(
    model: Any,
    path: str | os.PathLike | None = None,
    *,
    codec: str = "gzip",
    level: int | None = None,
    dtype: str = "float32",
    limit_bytes: int = PLAN_LIMIT_BYTES,
    keep_compressed: bool = False,
) -> WeightsSize:
    """Write `model`'s state dict as safetensors (to `path`, or a temp dir) and compress it."""
    import torch
    from safetensors.torch import save_file

    _compressor(codec, level)  # unknown codec: fail before writing anything
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in dtypes:
        raise InputError(f"unknown dtype {dtype!r} (use {', '.join(dtypes)})")
    t0 = time.perf_counter()
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if t.is_floating_point():
            t = t.to(dtypes[dtype])
        tensors[name] = t.contiguous().clone()  # safetensors refuses shared storage
    params = int(sum(p.numel() for p in model.parameters()))
    with tempfile.TemporaryDirectory(prefix="lvmgate-weights-") as tmp:
        staging = Path(tmp) / "model.safetensors"
        save_file(tensors, str(staging), metadata={"format": "pt", "dtype": dtype})
        raw = os.path.getsize(staging)
        target = staging
        if path is not None:
            target = Path(path)
            _copy(staging, target)
        comp_path = Path(str(target) + f".{codec}") if keep_compressed else Path(tmp) / f"model.{codec}"
        compressed = compress_file(target, comp_path, codec, level)
    return WeightsSize(
        params=params,
        dtype=dtype,
        safetensors_bytes=int(raw),
        compressed_bytes=int(compressed),
        codec=codec,
        ratio=compressed / raw if raw else float("nan"),
        limit_bytes=int(limit_bytes),
        under_limit=bool(compressed < limit_bytes),
        path=str(target) if path is not None else None,
        compressed_path=str(comp_path) if keep_compressed else None,
        seconds=time.perf_counter() - t0,
    )


def _copy(src: Path, dst: Path) -> None:
    with atomic_open(dst, "wb") as out, open(src, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            out.write(chunk)


def estimate_bytes(config: Any, dtype_bytes: int = 4) -> int:
    """Raw weight bytes of an LVMConfig (closed-form parameter count x bytes per parameter)."""
    return int(config.param_count()) * int(dtype_bytes)
