"""A folder of `.txt` and `.md` files, read as documents with the hash re-indexing compares."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".txt", ".md")


class CorpusError(ValueError):
    """The corpus folder is missing, empty, or holds a file that cannot be read as text."""


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the corpus folder, with forward slashes
    text: str
    sha256: str


def load_documents(folder: str | Path) -> list[Document]:
    """Every `.txt`/`.md` file under `folder` (recursively, sorted), decoded as UTF-8."""
    root = Path(folder)
    if not root.is_dir():
        raise CorpusError(f"corpus folder {str(root)!r} does not exist or is not a folder")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    documents = []
    for path in paths:
        try:
            data = path.read_bytes()
            text = data.decode("utf-8")
        except OSError as error:
            raise CorpusError(f"cannot read {str(path)!r}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise CorpusError(
                f"{str(path)!r} is not UTF-8 text (byte {error.start}); convert it or remove it"
            ) from error
        if text.strip():
            source = path.relative_to(root).as_posix()
            documents.append(Document(source, text, hashlib.sha256(data).hexdigest()))
    if not documents:
        raise CorpusError(
            f"corpus folder {str(root)!r} has no non-empty {' or '.join(SUFFIXES)} files to index"
        )
    return documents
