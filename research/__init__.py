"""Experiments: what was measured to decide the product's design, one module each (``python -m research.<name>``).

The product never imports this package; the findings are in ``research/README.md``."""
