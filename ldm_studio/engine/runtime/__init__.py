"""Where and how the engine runs: devices and precisions, host memory, acceleration, preload.
May import the engine's face only."""
