"""Benchmarks run by hand (`python -m ldm_studio.bench.NAME`), not timed tests: timings on shared CI
machines are noise, so the suite checks behaviour and these scripts report speed."""
