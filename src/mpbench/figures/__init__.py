"""The paper's figures 2–7 and an energy figure, drawn from summary.csv / speedups.csv only."""
