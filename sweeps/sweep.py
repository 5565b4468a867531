"""`python -m sweeps.sweep`: the entry point of `make sweep` / `make reproduce` (sweeps.cli has the
options; sweeps.plan, sweeps.tuner, sweeps.results, sweeps.ray_setup and sweeps.wandb_logging the rest)."""

import sys

from sweeps.cli import main

if __name__ == "__main__":
    sys.exit(main())
