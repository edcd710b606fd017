"""How many hypothesis examples a property test draws: the default for `make test`, multiplied by
FASTMME_TEST_SCALE for the long run (`make test-long` sets 20)."""
import os

SCALE = max(1, int(os.environ.get("FASTMME_TEST_SCALE", "1")))


def examples(n: int) -> int:
    return n * SCALE
