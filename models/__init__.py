"""Classifier, screening engine, recognisers, persistence and model artifacts."""
