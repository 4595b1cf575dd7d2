"""The paper's claims (config/claims.yaml) checked on this grid's records: value, 95 % CI, n, p, verdict.

Each claim names its test (``test:``), a function ``(evidence, claim) -> row`` registered by that name in
:data:`TESTS`; an unknown name is refused. The modules, one job each:

- :mod:`.evidence`: what every test reads (:class:`Evidence`: the measurements, the baseline, ``stats``'
  margin, noise guard and effect size, this grid's GPUs, the energy cells, the accuracy table) and the
  selectors the tests share.
- :mod:`.verdicts`: from intervals to verdicts (supported, contradicted, inconclusive, not measured) and
  the words of the detail.
- :mod:`.speed`, :mod:`.energy`, :mod:`.accuracy`, :mod:`.edgetpu`: the claim tests, one module per topic.
- :mod:`.report`: :data:`TESTS`, :func:`check` (the claims table), :func:`write` (claims.csv, .md, .html,
  accuracy.csv) and where the run departs from the paper's setup.
"""
from .evidence import CELL_KEYS, DEFAULT_EFFECT, Evidence, measurements
from .report import (
    COLUMNS,
    PAPER_FOLDS,
    PAPER_SETUP,
    TESTS,
    VERDICT_COLOURS,
    check,
    departures,
    html,
    load,
    markdown,
    write,
)
from .verdicts import NOT_MEASURED

__all__ = ["CELL_KEYS", "COLUMNS", "DEFAULT_EFFECT", "NOT_MEASURED", "PAPER_FOLDS", "PAPER_SETUP", "TESTS",
           "VERDICT_COLOURS", "Evidence", "check", "departures", "html", "load", "markdown", "measurements", "write"]
