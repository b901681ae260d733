"""Evaluation on a labelled feature table: neighbours, genre model, re-ranking, walks, figures."""
