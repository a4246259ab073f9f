"""`python -m datagen` is `python -m datagen.generate_typos` (the plan's entry point)."""
import sys

from datagen.generate_typos import main

sys.exit(main())
