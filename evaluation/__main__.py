"""`python -m evaluation` is `python -m evaluation.run` (`make eval`)."""
import sys

from evaluation.run import main

sys.exit(main())
