"""Stand-in for the three scipy functions the simulator core imports (see stacks/lambda_shims/README.md)."""
