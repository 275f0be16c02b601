"""Engines over a whole collection of vectors: clusters and outliers on the k-nearest-neighbour graph
of the join, vectors for any files written in the export's schema, and the image formats this
install reads."""

from __future__ import annotations

from .clusters import ClusterResult, cluster_vectors
from .outliers import outlier_scores

__all__ = ["ClusterResult", "cluster_vectors", "outlier_scores"]
