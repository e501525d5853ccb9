"""`python -m training ...`: see training/cli/."""
import sys

from training.cli import main

if __name__ == "__main__":  # guarded: a spawned worker imports this module as __mp_main__
    sys.exit(main())
