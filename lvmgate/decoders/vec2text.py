"""vec2text decoders `jxe` and `ielab`: the GTR-base inversion + corrector models, two decoding presets.

Both presets run vec2text 0.0.13's own classes (InversionModel, CorrectorEncoderModel,
InversionTrainer, Corrector, `invert_embeddings`) over `jxm/gtr__nq__32` (hypothesiser) and
`jxm/gtr__nq__32__correct` (corrector), which are built on `t5-base` and the mean-pooled
`sentence-transformers/gtr-t5-base` encoder. Weights are read offline only: from a local folder
(`model_path=` or $LVMGATE_VEC2TEXT_PATH) or the Hugging Face cache; nothing is downloaded.

What the adapter fixes, each only where it is needed (see NOTES in docs/decoders.md):
- vec2text's trainers call `evaluate.load(...)` (a hub download) when built: replaced by a stub for
  the duration of loading only (`offline_metric_loading`).
- transformers 5 leaves the corrector's `generation_config.length_penalty` as None, which breaks
  `num_steps`: set to 1.0 (`fix_length_penalty`).
- transformers 5 builds `from_pretrained` models on the meta device, where vec2text's constructors
  (which load t5-base / GTR themselves) cannot run: the models are constructed normally and the
  checkpoint is loaded with `load_state_dict`, refusing checkpoints that leave weights unset.

Long on purpose: vec2text's loading needs three workarounds (documented where they are applied)
that only make sense beside the decoder they patch.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.decoders.base import Decoded, Decoder
from lvmgate.errors import InputError, MissingWeightsError
from lvmgate.results import Result

INVERSION_REPO = "jxm/gtr__nq__32"
CORRECTOR_REPO = "jxm/gtr__nq__32__correct"
ENV_PATH = "LVMGATE_VEC2TEXT_PATH"
ENV_DEVICE = "VEC2TEXT_DEVICE"
DEVICES = ("cpu", "cuda", "mps")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)

# names that vec2text configs use for the models they are built on -> Hugging Face repositories
BASE_REPOS: dict[str, tuple[str, ...]] = {
    "t5-base": ("t5-base", "google-t5/t5-base"),
    "gtr_base": ("sentence-transformers/gtr-t5-base",),
}
# vec2text embedder names that mean "the encoder stack of this T5 repository" (vec2text model_utils)
T5_ENCODER_EMBEDDERS = frozenset({"gtr_base"})

FETCH_HELP = (
    "on a connected machine run `hf download REPO --local-dir DIR/REPO` for jxm/gtr__nq__32, "
    "jxm/gtr__nq__32__correct and sentence-transformers/gtr-t5-base, and "
    "`hf download google-t5/t5-base --local-dir DIR/t5-base` (a few GB), copy DIR here and pass "
    f"--model-path DIR or set {ENV_PATH}=DIR (a copied ~/.cache/huggingface/hub works too); see docs/decoders.md"
)


@dataclass(frozen=True)
class Vec2TextPreset(Result):
    """A named decoding configuration over the same two models."""

    name: str
    num_steps: int  # correction steps after the first hypothesis; 0 = hypothesis only
    sequence_beam_width: int  # sequence-level beam over correction candidates (0 with num_steps=0)
    seed: int  # torch seed set before each batch (decoding itself is deterministic)
    origin: str


PRESETS: dict[str, Vec2TextPreset] = {
    "jxe": Vec2TextPreset(
        "jxe",
        num_steps=1,
        sequence_beam_width=1,
        seed=42,
        origin="lnsp-phase-4 JXEVec2TextSubscriber / jxe_wrapper_proper.py defaults: steps=1, "
        "beam_width=1, random_seed=42; input L2-normalised; generation max_length 128",
    ),
    "ielab": Vec2TextPreset(
        "ielab",
        num_steps=20,
        sequence_beam_width=2,
        seed=123,
        origin="lnsp-phase-4 IELabVec2TextSubscriber / ielab_wrapper.py defaults: steps=20, "
        "beam_width=2, random_seed=123, CPU; input L2-normalised; generation max_length 128",
    ),
}


# --------------------------------------------------------------------------------------------------
# where the weights are
@dataclass(frozen=True)
class ModelFiles(Result):
    """Local folders of the two vec2text checkpoints and of the base models their configs name."""

    inversion: str
    corrector: str
    base: dict[str, str] = field(default_factory=dict)  # config name (e.g. "t5-base") -> folder
    source: str = ""


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / f).is_file() for f in WEIGHT_FILES)


def _cached_snapshot(repo: str, cache_dir: str | None) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - comes with transformers
        return None
    found = try_to_load_from_cache(repo, "config.json", cache_dir=cache_dir)
    return Path(found).parent if isinstance(found, str) else None


def _find_repo(repos: tuple[str, ...], root: Path | None) -> Path | None:
    """The first folder holding config + weights of one of `repos`, under root or in the HF cache."""
    for repo in repos:
        candidates = [root / repo, root / repo.split("/")[-1]] if root is not None else []
        snap = _cached_snapshot(repo, str(root) if root is not None else None)
        if snap is not None:
            candidates.append(snap)
        for folder in candidates:
            if _has_weights(folder):
                return folder
    return None


def _hub_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def locate_weights(model_path: str | os.PathLike | None = None) -> ModelFiles:
    """Find all four model folders offline; one MissingWeightsError naming every missing model."""
    given = model_path if model_path else os.environ.get(ENV_PATH) or None
    root = Path(given).expanduser() if given else None
    if root is not None and not root.is_dir():
        raise MissingWeightsError(
            f"vec2text model folder {root} (from {'--model-path' if model_path else '$' + ENV_PATH}) "
            f"does not exist; {FETCH_HELP}"
        )
    where = f"{root}" if root is not None else f"the Hugging Face cache ({_hub_cache()})"
    missing: list[str] = []
    found: dict[str, Path] = {}
    for repo in (INVERSION_REPO, CORRECTOR_REPO):
        folder = _find_repo((repo,), root)
        if folder is None:
            missing.append(repo)
        else:
            found[repo] = folder
    base: dict[str, str] = {}
    if not missing:
        names: list[str] = []
        for repo in (INVERSION_REPO, CORRECTOR_REPO):
            cfg = _read_config(found[repo])
            names += [
                cfg.get("model_name_or_path"),
                *([cfg.get("embedder_model_name")] if repo == INVERSION_REPO else []),
            ]
        for name in dict.fromkeys(n for n in names if n):
            if Path(name).is_absolute() and Path(name).is_dir():  # a config naming a local folder
                base[name] = str(Path(name))
                continue
            repos = BASE_REPOS.get(name)
            if repos is None:
                raise InputError(
                    f"vec2text config names an unsupported base model {name!r} "
                    f"(supported: {', '.join(BASE_REPOS)}); is {found[INVERSION_REPO]} the GTR-base checkpoint?"
                )
            folder = _find_repo(repos, root)
            if folder is None:
                missing.append(repos[-1])
            else:
                base[name] = str(folder)
    else:  # the published configs name these two; say whether they are here too
        missing += [repos[-1] for repos in BASE_REPOS.values() if _find_repo(repos, root) is None]
    if missing:
        raise MissingWeightsError(
            f"vec2text weights not found in {where}: missing {', '.join(missing)}. The jxe/ielab decoders need "
            f"{INVERSION_REPO} and {CORRECTOR_REPO} and the models they are built on (t5-base, "
            f"sentence-transformers/gtr-t5-base); {FETCH_HELP}"
        )
    return ModelFiles(
        str(found[INVERSION_REPO]),
        str(found[CORRECTOR_REPO]),
        base,
        f"path:{root}" if root is not None else "hf-cache",
    )


def weights_available(model_path: str | os.PathLike | None = None) -> bool:
    """True when `locate_weights` would find all four models (cheap: no torch, no loading)."""
    try:
        locate_weights(model_path)
    except InputError:
        return False
    return True


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{folder / 'config.json'}: unreadable ({exc})") from None


# --------------------------------------------------------------------------------------------------
# device
def resolve_device(device: str | None = None) -> str:
    """cpu / cuda / mps from the argument, else $VEC2TEXT_DEVICE, else cuda if available else cpu.

    The argument wins over the environment; a device this machine lacks is an InputError.
    """
    import torch

    source = "the device argument" if device else f"${ENV_DEVICE}"
    want = (device or os.environ.get(ENV_DEVICE) or "").strip().lower()
    if want in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if want not in DEVICES:
        raise InputError(f"unknown device {want!r} from {source} (use one of: {', '.join(DEVICES)})")
    if want == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"device 'cuda' requested by {source}, but torch {torch.__version__} sees no CUDA device here; use cpu"
        )
    if want == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device 'mps' requested by {source}, but MPS is not available here; use cpu")
    return want


# --------------------------------------------------------------------------------------------------
# the two vec2text 0.0.13 + transformers 5 workarounds
class _NoHubMetric:
    """Stands in for an `evaluate` metric: vec2text only uses them when training or evaluating."""

    def __init__(self, name: str):
        self.name = name

    def compute(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"evaluate metric {self.name!r} is not available offline (lvmgate decoders do not train)"
        )


@contextlib.contextmanager
def offline_metric_loading() -> Iterator[None]:
    """Make `evaluate.load` return a stub while vec2text builds its trainers; restored afterwards."""
    import evaluate

    original = evaluate.load
    evaluate.load = lambda path, *args, **kwargs: _NoHubMetric(str(path))
    try:
        yield
    finally:
        evaluate.load = original


def fix_length_penalty(corrector: Any) -> bool:
    """Set the corrector's generation_config.length_penalty to 1.0 if None; True if it changed."""
    gen = corrector.model.encoder_decoder.generation_config
    if gen.length_penalty is None:
        gen.length_penalty = 1.0
        return True
    return False


@contextlib.contextmanager
def _embedder_folders(base: dict[str, str]) -> Iterator[None]:
    """While building an InversionModel, load T5-encoder embedders ('gtr_base') from local folders."""
    import transformers
    import vec2text.models.inversion as inversion

    original = inversion.load_embedder_and_tokenizer

    def load(name: str, torch_dtype: str, **kwargs: Any):
        if name in T5_ENCODER_EMBEDDERS and name in base:
            folder = base[name]
            # what vec2text does for 'gtr_base' (AutoModel(...).encoder), read from the folder
            model = transformers.T5EncoderModel.from_pretrained(folder).encoder
            return model, transformers.AutoTokenizer.from_pretrained(folder)
        return original(name, torch_dtype, **kwargs)

    inversion.load_embedder_and_tokenizer = load
    try:
        yield
    finally:
        inversion.load_embedder_and_tokenizer = original


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Belt and braces: every folder is local, but make the hub client refuse the network too."""
    from huggingface_hub import constants

    was = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = was


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No weight-loading progress bars or prints while models are built."""
    import transformers.utils.logging as tlog

    was = tlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        if was:
            tlog.enable_progress_bar()


def load_checkpoint(model: Any, folder: str | os.PathLike, *, from_base: tuple[str, ...] = ()) -> list[str]:
    """Load a checkpoint folder's weights into a constructed model; returns unexpected keys.

    Missing keys are allowed where the parameter is tied to one that was loaded (T5 shares its
    embedding matrix) or lies under a `from_base` prefix (a frozen part the constructor already
    loaded from its own pretrained folder, e.g. the GTR embedder); anything else would leave
    random weights and is an InputError.
    """
    import torch

    folder = Path(folder)
    state: dict[str, Any] = {}
    for fname in _checkpoint_files(folder):
        if fname.suffix == ".safetensors":
            from safetensors.torch import load_file

            state.update(load_file(str(fname)))
        else:
            state.update(torch.load(fname, map_location="cpu", weights_only=True))
    result = model.load_state_dict(state, strict=False)
    groups: dict[int, list[str]] = {}
    for name, tensor in [
        *model.named_parameters(remove_duplicate=False),
        *model.named_buffers(remove_duplicate=False),
    ]:
        groups.setdefault(id(tensor), []).append(name)
    alias = {name: names for names in groups.values() for name in names}
    unset = [
        k
        for k in result.missing_keys
        if not any(a in state for a in alias.get(k, [k])) and not k.startswith(tuple(from_base))
    ]
    if unset:
        raise InputError(
            f"{folder}: the checkpoint leaves {len(unset)} weights of {type(model).__name__} unset "
            f"(e.g. {', '.join(unset[:3])}); incomplete download or not a vec2text GTR-base checkpoint?"
        )
    return list(result.unexpected_keys)


def _checkpoint_files(folder: Path) -> list[Path]:
    for single, index in (
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        if (folder / single).is_file():
            return [folder / single]
        if (folder / index).is_file():
            shards = json.loads((folder / index).read_text())["weight_map"].values()
            return [folder / s for s in dict.fromkeys(shards)]
    raise MissingWeightsError(
        f"{folder}: no model weights (looked for {', '.join(WEIGHT_FILES)}); {FETCH_HELP}"
    )


_CACHE: dict[tuple[str, str, str], Any] = {}
_LOCK = threading.Lock()


def load_corrector(files: ModelFiles, device: str) -> Any:
    """A ready vec2text Corrector (inversion + correction models) on `device`; cached per folders+device."""
    key = (files.inversion, files.corrector, device)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build_corrector(files, device)
        return _CACHE[key]


def clear_cache() -> None:
    """Forget loaded models (frees their memory once nothing else holds them)."""
    with _LOCK:
        _CACHE.clear()


def import_vec2text() -> Any:
    """Import vec2text, undoing its import-time switch of torch's dynamo logs to INFO."""
    import logging

    import torch
    import vec2text

    torch._logging.set_logs(dynamo=logging.WARNING)
    return vec2text


def _build_corrector(files: ModelFiles, device: str) -> Any:
    import transformers

    vec2text = import_vec2text()
    from vec2text.models.config import InversionConfig

    with _hub_offline(), _quiet_loading(), offline_metric_loading(), _embedder_folders(files.base):
        models = []
        for folder, cls in (
            (files.inversion, vec2text.models.InversionModel),
            (files.corrector, vec2text.models.CorrectorEncoderModel),
        ):
            config = InversionConfig.from_pretrained(folder)
            config.model_name_or_path = files.base.get(config.model_name_or_path, config.model_name_or_path)
            model = cls(config)
            # the inversion model's frozen embedder is GTR itself, already loaded from its folder
            frozen = ("embedder.",) if cls is vec2text.models.InversionModel else ()
            load_checkpoint(model, folder, from_base=frozen)
            model.eval()
            models.append(model)
        inversion_model, corrector_model = models
        with tempfile.TemporaryDirectory(prefix="lvmgate-vec2text-") as tmp:
            # as vec2text.api.load_corrector, with explicit arguments so that the device is ours
            args = transformers.TrainingArguments(
                output_dir=tmp, use_cpu=device == "cpu", report_to="none", disable_tqdm=True
            )
            inversion_trainer = vec2text.trainers.InversionTrainer(
                model=inversion_model,
                args=args,
                train_dataset=None,
                eval_dataset=None,
                data_collator=transformers.DataCollatorForSeq2Seq(
                    inversion_model.tokenizer, label_pad_token_id=-100
                ),
            )
            corrector_model.config.dispatch_batches = None
            corrector = vec2text.trainers.Corrector(
                model=corrector_model,
                inversion_trainer=inversion_trainer,
                args=args,
                data_collator=vec2text.collator.DataCollatorForCorrection(
                    tokenizer=inversion_trainer.model.tokenizer
                ),
            )
    if corrector.args.device.type != device:  # pragma: no cover - transformers chose otherwise
        raise InputError(
            f"vec2text: asked for device {device!r}, transformers placed the models on {corrector.args.device}"
        )
    inversion_model.to(corrector.args.device)
    corrector_model.to(corrector.args.device)
    fix_length_penalty(corrector)
    return corrector


# --------------------------------------------------------------------------------------------------
class Vec2TextDecoder(Decoder):
    """vec2text inversion + iterative correction with a named preset (jxe / ielab)."""

    default_batch_size = 16

    def __init__(
        self,
        preset: str | Vec2TextPreset = "jxe",
        *,
        model_path: str | os.PathLike | None = None,
        device: str | None = None,
        num_steps: int | None = None,
        sequence_beam_width: int | None = None,
        batch_size: int | None = None,
        normalize: bool = True,
    ):
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise InputError(f"unknown vec2text preset {preset!r} (known: {', '.join(PRESETS)})")
            preset = PRESETS[preset]
        self.preset = preset
        self.name = preset.name
        self.num_steps = int(preset.num_steps if num_steps is None else num_steps)
        beam = preset.sequence_beam_width if sequence_beam_width is None else sequence_beam_width
        self.sequence_beam_width = int(beam) if self.num_steps > 0 else 0
        if self.num_steps < 0 or self.sequence_beam_width < 0:
            raise InputError(f"{self.name}: num_steps and sequence_beam_width must be >= 0")
        if self.num_steps > 0 and self.sequence_beam_width < 1:
            raise InputError(f"{self.name}: sequence_beam_width must be >= 1 when num_steps > 0")
        self.seed = preset.seed
        self.normalize = bool(normalize)
        if batch_size:
            self.default_batch_size = int(batch_size)
        self.files = locate_weights(model_path)  # before anything heavy: a missing model fails fast
        self.device = resolve_device(device)
        self.corrector = load_corrector(self.files, self.device)
        self.dim = int(self.corrector.inversion_trainer.model.embedder_dim)

    def params(self) -> dict[str, Any]:
        return {
            "decoder": self.name,
            "models": [INVERSION_REPO, CORRECTOR_REPO],
            "num_steps": self.num_steps,
            "sequence_beam_width": self.sequence_beam_width,
            "seed": self.seed,
            "normalize": self.normalize,
            "max_length": 128,
            "device": self.device,
            "weights": self.files.source,
            "preset_origin": self.preset.origin,
        }

    def _decode_batch(self, vectors: np.ndarray) -> list[Decoded]:
        import torch
        import torch.nn.functional as F

        vec2text = import_vec2text()
        torch.manual_seed(self.seed)
        dev = self.corrector.args.device
        emb = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(dev)  # (b, D)
        if self.normalize:
            emb = F.normalize(emb, dim=-1)
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # vec2text prints progress notes
            texts = vec2text.api.invert_embeddings(
                emb,
                self.corrector,
                num_steps=self.num_steps or None,
                sequence_beam_width=self.sequence_beam_width,
            )
            scores = self._self_similarity(texts, emb)  # (b,)
        return [Decoded(t.strip(), float(s)) for t, s in zip(texts, scores.tolist())]

    def _self_similarity(self, texts: list[str], emb: Any) -> Any:
        """Cosine between each query and vec2text's own embedder applied to the decoded text."""
        import torch.nn.functional as F

        inv = self.corrector.inversion_trainer.model
        tok = inv.embedder_tokenizer(
            texts,
            max_length=inv.config.max_seq_length,
            truncation=True,
            padding="max_length",
            return_tensors="pt",
        ).to(emb.device)
        again = inv.call_embedding_model(input_ids=tok.input_ids, attention_mask=tok.attention_mask)  # (b, D)
        return F.cosine_similarity(again.float(), emb, dim=-1)
