"""The persistent library: a SQLite catalog of files and vectors plus a FAISS index."""

from .library import Library, LibraryStats, SyncReport

__all__ = ["Library", "LibraryStats", "SyncReport"]
