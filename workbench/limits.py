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
MNIST1D_MAX_ROWS = 2 ** 20
"""Most mnist1d examples in all (pool + val + test): the mnist1d package builds them one at a time and
normalises the whole set at once (measured on a 2-core machine: 2^20 take 4.4 minutes and 1.4 GB above the
interpreter; 2^24 per split, the general ``MAX_ROWS``, would take over an hour and more than 20 GB)."""
DIGITS_ROWS = 1797
"""scikit-learn's digits: every example there is (pool + val + test)."""

# Sizes that fit each data source (digits has only 1797 examples; MNIST-1D's standard
# split is 4,000 train / 1,000 test).
TASK_SIZE_DEFAULTS: dict[str, dict[str, int]] = {
    "teacher-regression": {"pool_size": 16384, "val_size": 1024, "test_size": 8192},
    "teacher-classification": {"pool_size": 16384, "val_size": 1024, "test_size": 8192},
    "mnist1d": {"pool_size": 8000, "val_size": 1000, "test_size": 2000},
    "digits": {"pool_size": 1197, "val_size": 200, "test_size": 400},
}


def max_test_rows(task: str) -> tuple[int, str]:
    """The most test examples task ``task`` makes beside its default pool and validation split, and why."""
    sizes = TASK_SIZE_DEFAULTS[task]
    beside = sizes["pool_size"] + sizes["val_size"]
    if task == "mnist1d":
        return MNIST1D_MAX_ROWS - beside, (f"mnist1d makes at most {MNIST1D_MAX_ROWS} (2**20) examples, "
                                           f"{beside} of them its training pool and validation split")
    if task == "digits":
        return DIGITS_ROWS - beside, f"digits has {DIGITS_ROWS} examples, {beside} of them its pool and validation split"
    return MAX_ROWS, "the limit on any split"
