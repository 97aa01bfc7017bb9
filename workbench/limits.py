"""The tasks' names and the generous upper limits on their sizes, without torch: the command-line verbs check
their arguments against these before anything heavy is imported (a refused ``costtune`` or ``sweep`` exits in
under a second instead of after torch's three-second import)."""

TASKS = ("teacher-regression", "teacher-classification", "mnist1d", "digits")

# generous upper limits, so that a mistyped huge number is an InputError, not an 88 TB allocation
MAX_ROWS = 2 ** 24
"""Most rows in the pool, validation or test split (16,777,216; 1.3 GB of float32 at input_dim 20)."""
MAX_DIM = 65536
"""Most input features, teacher units per layer, outputs or classes."""
MAX_DEPTH = 1024
"""Most teacher hidden layers."""
MAX_SEED = 2 ** 63 - 1
"""Largest task seed."""
MIN_INPUTS = 100
"""Fewest test inputs a costtune outcome table takes (50 held out)."""
