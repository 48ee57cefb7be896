"""Compiled kernels (built from ``kernels/*.pyx``); absent when the build was skipped."""
