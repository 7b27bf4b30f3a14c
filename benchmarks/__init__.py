"""Benchmarks, one module each, printing JSON figures: ``python -m benchmarks.<name>`` (sim, actions, noise,
rllib, serving, synth, controller); each module says what it measures."""
