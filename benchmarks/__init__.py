"""Benchmarks: scripts that print JSON figures (not timed tests); each module says what it measures."""
