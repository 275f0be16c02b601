"""The persistent library: a SQLite catalog of files and vectors plus a FAISS index."""

from .base import LibraryStats, StoredFile, SyncReport, VectorStore
from .library import Library

__all__ = ["Library", "LibraryStats", "StoredFile", "SyncReport", "VectorStore"]
