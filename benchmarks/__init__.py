"""Benchmarks and the scripts that fit the data files hashers ship in assets/."""
