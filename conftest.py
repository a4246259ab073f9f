"""Root conftest: shared, session-scoped fixtures live in tests/fixtures/<stage>.py so one
tiny-model build, one training run and one export serve the whole test session."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the Hub in tests
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = [
    "tests.fixtures.base",
    "tests.fixtures.data",
    "tests.fixtures.train",
    "tests.fixtures.export",
    "tests.fixtures.runner",
    "tests.fixtures.bench",
]
