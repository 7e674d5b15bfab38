"""The sentence encoder under the local triage model: a fine-tuned MiniLM run with onnxruntime.

The encoder is all-MiniLM-L6-v2 (Apache-2.0) fine-tuned once on GoEmotions by
`bench/finetune_encoder.py`, exported to ONNX with int8 dynamic quantisation (~23 MB). It ships
in `warmline/triage/encoders/<name>/`; each taxonomy's model names the encoder whose features its
heads read (`original` and `group` share the first, `ekman` has one fine-tuned further), so
inference needs onnxruntime and tokenizers, never torch.

Texts are always encoded one at a time: dynamic quantisation scales activations per call, so a
padded batch gives slightly different numbers than the single message `predict` sees, and the
heads must be trained on exactly the features they will be applied to.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from warmline.triage.errors import ModelLoadError

if TYPE_CHECKING:
    from warmline.triage.local import FloatArray

ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
ENCODER_INFO = "encoder.json"
"""How the encoder was fine-tuned (written by `bench/finetune_encoder.py`), for the record."""
DEFAULT_ENCODER = "minilm-l6-goemotions-v1"
"""The encoder a taxonomy's recipe uses unless it names another."""
MAX_TOKENS = 64
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
"""An encoder's name: its directory's, recorded in the model card and looked up among the
shipped encoders, so it must be a plain folder name."""
_CACHE_LIMIT = 100_000


class EncoderRef(BaseModel):
    """In a model card: which encoder the heads were trained on, and how its scores are mixed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=rf"^{_NAME.pattern}$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    """Of `encoder.onnx`: heads are only valid on the exact file they were trained on."""
    dimensions: int
    mix: Annotated[float, Field(ge=0.0, le=1.0)]
    """Weight of the encoder head's probability; the TF-IDF model's gets `1 - mix`."""


def encoder_name(directory: Path | Traversable) -> str:
    """The name an encoder in `directory` goes by: the directory's own name, resolved, so
    `--encoder .` or `--encoder ../enc/` name the folder rather than nothing."""
    # Lexical, as the user typed it: resolve() would name a symlinked folder after its target.
    return Path(os.path.abspath(str(directory))).name  # noqa: PTH100


def check_encoder_name(directory: Path | Traversable) -> str:
    """The encoder name of `directory`, or a `ModelLoadError` when a model card cannot carry it
    (checked before training, not after the whole fit)."""
    name = encoder_name(directory)
    if not _NAME.fullmatch(name):
        raise ModelLoadError(
            f"{directory}: the encoder is named after its directory, and {name!r} is not an "
            "encoder name; copy or rename the directory to lower-case letters, digits, '.' and "
            "'-', starting with a letter or digit (e.g. minilm-l6-custom-v1)"
        )
    return name


def shipped_encoders() -> Traversable:
    """The directory inside the package holding one folder per shipped encoder."""
    return resources.files("warmline.triage") / "encoders"


class Encoder:
    """Text to a fixed-size embedding (mean-pooled last layer), one message per call."""

    def __init__(self, directory: Path | Traversable, *, threads: int = 1) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelLoadError(
                f"the triage encoder needs onnxruntime and tokenizers ({exc}); reinstall warmline"
            ) from exc
        where = str(directory)
        model_file, tokenizer_file = directory / ENCODER_FILE, directory / TOKENIZER_FILE
        for part in (model_file, tokenizer_file):
            if not part.is_file():
                raise ModelLoadError(
                    f"{where}: {part.name} is missing; an encoder directory holds "
                    f"{ENCODER_FILE} and {TOKENIZER_FILE} from bench/finetune_encoder.py"
                )
        data = model_file.read_bytes()
        self.directory = directory
        self.name = encoder_name(directory)
        self.sha256 = hashlib.sha256(data).hexdigest()
        options = onnxruntime.SessionOptions()
        # One thread: the latency target is per message on one core, and workers run in parallel.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                data, options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = Tokenizer.from_str(tokenizer_file.read_text(encoding="utf-8"))
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"{where}: cannot load the encoder: {exc}") from exc
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self.dimensions = int(self._session.get_outputs()[0].shape[-1])
        self._cache: dict[str, FloatArray] = {}

    def info(self) -> dict[str, object]:
        """The encoder's `encoder.json` (how it was fine-tuned), or {} when it has none."""
        source = self.directory / ENCODER_INFO
        if not source.is_file():
            return {}
        loaded = json.loads(source.read_text(encoding="utf-8"))
        return loaded if isinstance(loaded, dict) else {}

    def embed(self, text: str) -> FloatArray:
        """The embedding of one message."""
        ids = np.asarray([self._tokenizer.encode(text).ids], dtype=np.int64)
        output = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        result: FloatArray = np.asarray(output[0][0], dtype=np.float32)
        return result

    def embed_many(self, texts: Sequence[str]) -> FloatArray:
        """Embeddings of many messages, rows in order; repeated texts are encoded once."""
        rows = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            vector = self._cache.get(text)
            if vector is None:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                vector = self._cache[text] = self.embed(text)
            rows[i] = vector
        return rows


def load_encoder(name: str, model_dir: Path | Traversable | None = None) -> Encoder:
    """The encoder a model card names: a copy inside `model_dir`, else the shipped one."""
    if model_dir is not None and (model_dir / ENCODER_FILE).is_file():
        return Encoder(model_dir)
    if not _NAME.fullmatch(name):
        raise ModelLoadError(f"{name!r} is not an encoder name")
    directory = shipped_encoders() / name
    if not directory.is_dir():
        raise ModelLoadError(
            f"encoder {name!r} is neither in the model directory nor shipped with this warmline; "
            "copy its encoder.onnx and tokenizer.json beside model.json"
        )
    return _shipped(name)


@cache
def _shipped(name: str) -> Encoder:
    """A shipped encoder, loaded once per process however many models read it."""
    return Encoder(shipped_encoders() / name)
