"""The product's benchmarks, one module each, printing figures: ``python -m benchmarks.<name>`` (``make bench``
runs them). Experiments are in ``research/``."""
