"""Benchmarks, one module each: ``python -m benchmarks.<name>`` (sim, actions, noise, rllib, serving, synth)."""
