"""What the user made and keeps: the generation history (an sqlite database) and named prompt styles
(an A1111-compatible styles.csv), both in the app's data folder.

A top-level package rather than part of the engine: it stores the app's records, it draws nothing, and
the GUI imports it at module level, which the engine's subpackages may not be (tests/test_architecture).
Neither Qt nor torch: stdlib (sqlite3, csv) only, so the CLI and tests use it as the window does.
"""
