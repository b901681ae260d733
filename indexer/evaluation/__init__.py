"""Evaluation: how good the answers are, on the GTZAN table and on real music."""
