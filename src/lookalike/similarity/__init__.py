"""Similarity over any store: the one search path, the most similar pairs, and matches between two
collections, all through the bounded-memory join (`lookalike.join`) and one set of result types."""

from __future__ import annotations

from .match import match
from .pairs import ALL_PAIRS_LIMIT, all_pairs, check_all_pairs, find_pairs, pairs_of
from .search import search, similar

__all__ = ["ALL_PAIRS_LIMIT", "all_pairs", "check_all_pairs", "find_pairs", "match", "pairs_of", "search", "similar"]
