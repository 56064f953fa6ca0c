"""A numeric job on numpy and pandas: the bench's uv-locked project with heavy native wheels."""

import numpy as np
import pandas as pd


def main() -> None:
    frame = pd.DataFrame({"x": np.arange(10), "y": np.arange(10) ** 2})
    print(frame["y"].sum())
