"""Bundled sample data and the synthetic deal generator used by the demo, benchmarks and harnesses."""
