"""Both tables as W&B tables, when W&B is online (sweeps.wandb_logging decides the mode)."""

from __future__ import annotations

import os
import sys

import pandas as pd

from sweeps.storage import Location
from sweeps.wandb_logging import WANDB_PROJECT, wandb_online


def log_wandb(raw_tables: dict[str, pd.DataFrame], experiments: list[Location]) -> str | None:
    """Log the tables (name -> raw columns) as W&B tables to project ``$WANDB_PROJECT`` (svglab), in the
    experiment's group when there is one experiment; returns the run URL, None when offline or
    when W&B fails (a warning is printed: tables never fail over W&B)."""
    if not wandb_online():
        return None
    try:
        import wandb

        group = experiments[0].name if len(experiments) == 1 else "tables"
        run = wandb.init(project=os.environ.get("WANDB_PROJECT", WANDB_PROJECT), group=group,
                         job_type="tables", name=f"tables-{group}")
        with run:
            for name, raw in raw_tables.items():
                run.log({name: wandb.Table(dataframe=raw.astype(object).where(raw.notna(), None))})
            return run.url
    except Exception as error:  # noqa: BLE001 - any W&B problem
        print(f"warning: could not log the tables to W&B: {error}", file=sys.stderr)
        return None
