"""Result JSONs → tidy tables (summary.csv) and the paper's speed-ups (speedups.csv)."""
