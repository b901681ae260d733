"""Genre label words shared by the model, the evaluation and the API.

Kept apart from `indexer.model.genre` so the service can name them without importing XGBoost, which
would add most of a second to every worker's start-up.
"""

from __future__ import annotations

UNCERTAIN = "uncertain"
# Below this calibrated top probability a song's label is "uncertain" (with its top 3). On the
# artist-filtered folds 27% of the songs fall below 0.4, and those are right 27% of the time,
# against 65% above it (out-of-fold predictions, measured with `soundalike evaluate`).
UNCERTAIN_BELOW = 0.4
