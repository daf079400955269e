"""Which model the phase-4 artifacts are about: its identity (weights digest), a per-process model
cache, and whether an artifact on disk was made for it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvmgate.errors import InputError
from lvmgate.io import read_json
from lvmgate.results import Estimate, Result

DEFAULT_DEPLOY_DIR = "artifacts/deploy"


DEPLOY_FILES = {"export": "export.json", "quantize": "quantize.json", "loadtest": "loadtest.json"}


def missing(reason: str = "not measured") -> Estimate:
    """A value that was not measured (or may not be used): NaN, which the policy never passes."""
    nan = float("nan")
    return Estimate(nan, nan, nan, 0, reason)


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# -- the model the gates are about ---------------------------------------------------------------------
@dataclass(frozen=True)
class ModelIdentity(Result):
    """Which model a run is about: its weights digest ties every artifact to it."""

    spec: str
    kind: str  # checkpoint | preset | module | baseline | onnx
    digest: str  # sha256 of the weights (lvmgate.lvm.checkpoint.weights_digest), first 16 hex
    trained: bool | None
    params: int | None
    window: int | None
    dim: int


_MODELS: dict[tuple, Any] = {}


def load_model(spec: str, *, threads: int | None = None):
    """`lvmgate.lvm.load.load_model(spec)`, cached per process (a file by path, size and mtime)."""
    from lvmgate.lvm.load import load_model as load

    spec = str(spec)
    key: tuple = (spec,)
    if os.path.exists(spec):
        st = os.stat(spec)
        key = (os.path.abspath(spec), st.st_size, st.st_mtime_ns)
    if key not in _MODELS:
        _MODELS[key] = load(spec, threads=threads)
    return _MODELS[key]


def model_identity(spec: str, loaded: Any = None) -> ModelIdentity:
    """The digest of the model `spec` names: of its weights for a torch model (what a checkpoint's
    `weights_digest` records, measured here rather than trusted), of the file for an .onnx model."""
    loaded = loaded if loaded is not None else load_model(spec)
    if loaded.digest is None:
        raise InputError(f"{spec}: a numpy-only predictor has no weights to tie the deployment checks to")
    return ModelIdentity(
        spec=str(spec),
        kind=loaded.kind,
        digest=loaded.digest,
        trained=loaded.trained,
        params=loaded.params,
        window=loaded.window,
        dim=int(loaded.dim or 768),
    )


def artifact_digest(art: dict[str, Any]) -> str | None:
    """The model digest an artifact records: `model_digest` (lvmgate readiness), else the model's
    `weights_digest` (lvmgate export / quantize of a checkpoint)."""
    if not isinstance(art, dict):
        return None
    for holder in (art, art.get("result") if isinstance(art.get("result"), dict) else None):
        if not holder:
            continue
        if holder.get("model_digest"):
            return str(holder["model_digest"])
        model = holder.get("model")
        if isinstance(model, dict) and model.get("weights_digest"):
            return str(model["weights_digest"])
    return None


@dataclass(frozen=True)
class ArtifactStatus(Result):
    """One artifact file: found, for which model, and whether it may tick a box (`fresh`)."""

    name: str
    path: str
    found: bool
    model_digest: str | None
    fresh: bool
    reason: str  # why it may not be used ("" when fresh)
    created_at: str | None = None


def artifact_status(
    name: str, path: str | os.PathLike, art: dict | None, model: ModelIdentity, fingerprint: str | None = None
) -> ArtifactStatus:
    """Whether artifact `art` (read from `path`) was made for `model` (and the dataset `fingerprint`)."""
    path = str(path)
    if art is None:
        return ArtifactStatus(name, path, False, None, False, f"no {path}: run `lvmgate readiness`")
    digest = artifact_digest(art)
    prov = art.get("provenance") if isinstance(art.get("provenance"), dict) else {}
    created = prov.get("created_at")
    if digest is None:
        reason = f"{path} records no model digest: it cannot be tied to --lvm-model (run `lvmgate readiness`)"
        return ArtifactStatus(name, path, True, None, False, reason, created)
    if digest != model.digest:
        reason = (
            f"stale: {path} was made for model {digest[:12]}, not {model.digest[:12]} (--lvm-model "
            f"{model.spec}); re-run `lvmgate readiness`"
        )
        return ArtifactStatus(name, path, True, digest, False, reason, created)
    theirs = prov.get("fingerprint")
    if fingerprint and theirs and theirs != fingerprint:
        reason = (
            f"stale: {path} was measured on dataset {prov.get('dataset')!r} with fingerprint {theirs[:12]}, "
            f"not {fingerprint[:12]}; re-run `lvmgate readiness`"
        )
        return ArtifactStatus(name, path, True, digest, False, reason, created)
    return ArtifactStatus(name, path, True, digest, True, "", created)


def read_optional(path: Path) -> dict | None:
    if not path.is_file():
        return None
    art = read_json(path)
    if not isinstance(art, dict):
        raise InputError(f"{path}: expected a JSON object")
    return art
