"""`POST /predict` bodies into checked contexts: JSON or raw float32, every limit of the server's
config enforced with one status code and reason each (ApiError), before anything is queued."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # starlette is imported by the app that serves
    from starlette.requests import Request


class ApiError(Exception):
    """An answer other than 200: HTTP status, a stable code and a one-line message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class RequestParser:
    """Reads one request into (contexts (n, w, D) float32, top_k, include_vector)."""

    def __init__(self, cfg, dim: int, window: int | None, encode: Callable[[list[str]], np.ndarray], loads):
        self.cfg, self.dim, self.window, self.encode, self.loads = cfg, dim, window, encode, loads
        # binary bodies are exact; a JSON float takes at most ~26 characters
        max_values = cfg.max_request_batch * cfg.max_context * dim
        self.max_body_binary = 4 * max_values
        self.max_body_json = 26 * max_values + 4096

    async def read_body(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise ApiError(413, "body_too_large", f"request body of {declared} bytes exceeds {limit}")
            except ValueError:
                raise ApiError(400, "bad_content_length", "Content-Length is not an integer") from None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def check_contexts(self, arr: np.ndarray) -> np.ndarray:
        """(n, w, D) float32, every limit checked; raises ApiError with the reason."""
        n, w = arr.shape[0], arr.shape[1]
        if arr.shape[2] != self.dim:
            raise ApiError(
                422, "wrong_dimension", f"context vectors must have dimension {self.dim}, got {arr.shape[2]}"
            )
        if n < 1 or w < 1:
            raise ApiError(422, "empty_context", "a context needs at least one vector")
        if n > self.cfg.max_request_batch:
            raise ApiError(
                413,
                "batch_too_large",
                f"{n} contexts in one request exceed the limit {self.cfg.max_request_batch}",
            )
        if w > self.cfg.max_context:
            raise ApiError(
                413, "context_too_long", f"context of {w} vectors exceeds the limit {self.cfg.max_context}"
            )
        if self.window is not None and w != self.window:
            raise ApiError(
                422, "wrong_window", f"this model needs exactly {self.window} context vectors, got {w}"
            )
        finite = np.isfinite(arr)
        if not finite.all():
            where = np.argwhere(~finite)[0].tolist()
            raise ApiError(
                422,
                "not_finite",
                f"context holds NaN, null or infinite values (first at context {where[0]}, "
                f"vector {where[1]}, component {where[2]})",
            )
        return arr

    async def parse(self, request: Request) -> tuple[np.ndarray, int, bool]:
        """(contexts (n, w, D) float32, top_k, include_vector) from either body format."""
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype == "application/octet-stream":
            q = request.query_params
            n = _int_param(q.get("n", "1"), "n", 1, self.cfg.max_request_batch)
            top_k = _int_param(q.get("top_k", self.cfg.top_k), "top_k", 1, self.cfg.max_top_k)
            body = await self.read_body(request, self.max_body_binary)
            if len(body) == 0 or len(body) % (4 * self.dim * n):
                raise ApiError(
                    422,
                    "wrong_dimension",
                    f"binary body of {len(body)} bytes is not n={n} contexts of whole {self.dim}-D float32 vectors",
                )
            w = len(body) // (4 * self.dim * n)
            arr = np.frombuffer(body, dtype="<f4").reshape(n, w, self.dim)
            return self.check_contexts(arr), top_k, _flag(q.get("include_vector", "1"))
        if ctype not in ("application/json", ""):
            raise ApiError(
                415,
                "unsupported_media_type",
                f"send application/json or application/octet-stream, not {ctype}",
            )
        body = await self.read_body(request, self.max_body_json)
        try:
            obj = self.loads(body)
        except ValueError as exc:
            raise ApiError(
                400, "bad_json", f"invalid JSON ({exc}); NaN and Infinity are not JSON numbers"
            ) from None
        if not isinstance(obj, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        keys = [k for k in ("context", "contexts", "texts") if k in obj]
        if len(keys) != 1:
            raise ApiError(400, "bad_request", 'give exactly one of "context", "contexts" or "texts"')
        top_k = _int_param(obj.get("top_k", self.cfg.top_k), "top_k", 1, self.cfg.max_top_k)
        include = _flag(obj.get("include_vector", True))
        key = keys[0]
        if key == "texts":
            texts = obj["texts"]
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise ApiError(400, "bad_request", '"texts" must be a non-empty list of strings')
            if len(texts) > self.cfg.max_context:
                raise ApiError(
                    413, "context_too_long", f"context of {len(texts)} texts exceeds {self.cfg.max_context}"
                )
            vecs = await asyncio.to_thread(self.encode, texts)
            return self.check_contexts(vecs[None]), top_k, include
        raw = obj[key]
        want = 2 if key == "context" else 3
        try:
            arr = np.asarray(raw)
        except (ValueError, TypeError):
            arr = None
        if arr is None or arr.ndim != want or (arr.dtype.kind not in "fiu" and arr.dtype != object):
            shape = "(w, D)" if want == 2 else "(n, w, D)"
            raise ApiError(400, "bad_shape", f'"{key}" must be a {shape} array of numbers')
        if arr.dtype == object:  # nulls: report them as non-finite values
            try:
                arr = arr.astype(np.float32)
            except (ValueError, TypeError):
                raise ApiError(400, "bad_shape", f'"{key}" must hold only numbers') from None
        arr = np.asarray(arr, dtype=np.float32)
        return self.check_contexts(arr[None] if want == 2 else arr), top_k, include


def _int_param(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ApiError(422, f"bad_{name}", f"{name} must be an integer in {lo}..{hi}")
    try:
        v = int(value)
    except ValueError:
        raise ApiError(422, f"bad_{name}", f"{name} must be an integer in {lo}..{hi}") from None
    if not lo <= v <= hi:
        raise ApiError(422, f"bad_{name}", f"{name} must be in {lo}..{hi}, got {v}")
    return v


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() not in ("0", "false", "no")
