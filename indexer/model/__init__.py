"""The learned parts: the GTZAN feature table, the similarity metric and scaler, the genre model."""
