"""Corpus, training, evaluation and analysts ' tools."""
