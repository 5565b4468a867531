"""`make train TASK=... [H=...]`: one SAC-SVG(H) trial of the task with its Table 4 schedule.

The same machinery as a sweep (sweeps.sweep, mode "train"): one Tune trial in
`<results>/<Task>-train-<budget>/`, with progress, ETA, checkpoints, W&B and resume.

    python -m sweeps.train --task Hopper --budget smoke [--set horizon=3] [--seed 7]
"""

import sys

from sweeps.sweep import main

if __name__ == "__main__":
    sys.exit(main(mode="train"))
