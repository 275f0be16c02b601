"""Evaluation: retrieval metrics, labelled-set protocols, index benchmarks and synthetic data."""
