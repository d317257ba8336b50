"""Benchmarks of the engine: ./scripts/bench NAME [options]; the last line of output is JSON."""
