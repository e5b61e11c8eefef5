"""A synthetic churn-like data set, shipped so demos, tests and benchmarks need no download.

8 numeric features (``x0`` … ``x7``), 3 categorical ones (``color``, ``size``, ``region``)
and a binary target ``churn`` (plus a continuous ``spend`` for regression).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = [f"x{i}" for i in range(8)]
CATEGORICAL = ["color", "size", "region"]
FEATURES = NUMERIC + CATEGORICAL
CATEGORIES = {"color": ["red", "green", "blue"], "size": ["S", "M", "L", "XL"],
              "region": ["north", "south", "east", "west", "center"]}


def make_churn(n: int = 10_000, *, seed: int = 0) -> pd.DataFrame:
    """Features plus ``churn`` (0/1) and ``spend`` (float), deterministic for a seed."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n) * (1 + i % 3) for i, name in
                          enumerate(NUMERIC)})
    for name, values in CATEGORIES.items():
        frame[name] = pd.Series(rng.choice(values, n), dtype=object)
    color = frame["color"].map({"red": 1.0, "green": -0.5, "blue": 0.0}).to_numpy(float)
    size = frame["size"].map({"S": -0.5, "M": 0.0, "L": 0.4, "XL": 0.9}).to_numpy(float)
    logit = (0.8 * frame["x0"] - 0.6 * frame["x1"] + 0.3 * frame["x2"] * frame["x3"]
             + np.sin(frame["x4"]) + color + size + rng.normal(scale=0.5, size=n))
    frame["churn"] = (logit > 0).astype(np.int64)
    frame["spend"] = (50 + 10 * frame["x0"] + 5 * frame["x5"] ** 2 + 20 * color
                      + rng.normal(scale=2.0, size=n))
    return frame
