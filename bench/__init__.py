"""Benchmarks and evaluations (`make eval`, `make bench`); numbers are summarised in the README."""
