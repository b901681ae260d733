"""Recommendations: candidates from the index, re-ranked, with duplicates, hub scores and explanations."""
