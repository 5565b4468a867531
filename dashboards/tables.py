"""Tables 2 and 4 of the paper, regenerated from sweep outputs, beside the published numbers.

``python -m dashboards.tables --results DIR [--sweep FOLDER ...] [--out DIR]`` reads the latest
experiment folder per task and mode (or the given ones) and writes ``table2`` and ``table4`` as
Markdown, CSV and LaTeX, the plots (``plots/*.png``) and, when W&B is online, W&B tables.

- Table 4 (sweep folders): per task, the schedule (H_init, H_final, beta) whose seeds have the
  highest mean final evaluation return, beside the paper's Table 4 schedule.
- Table 2 (reproduce folders; else the best schedule's trials of the sweep, said in the notes):
  per task and method (SAC-SVG(H), SAC = H 0), mean and sample std (ddof 1) of the final
  evaluation returns, with Welch's t-test against the paper's and POPLIN's reported numbers.

A cell is incomplete (marked "†") when it has fewer than the paper's 10 trials, or when some of
its trials have not reached the training length; its notes say how many of each it has.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dashboards import load, plots
from dashboards.formats import DESCRIPTIONS, LEGEND, TITLES, caption, to_latex, to_markdown
from dashboards.table2 import display_table2, table2
from dashboards.table4 import display_table4, table4
from dashboards.wandb_tables import log_wandb
from sweeps.storage import Location


@dataclass
class Tables:
    """The raw (numeric) and display versions of both tables."""

    table2: pd.DataFrame
    table4: pd.DataFrame
    display: dict[str, pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def build(cls, results: load.Results) -> Tables:
        t2, t4 = table2(results), table4(results)
        return cls(t2, t4, {"table2": display_table2(t2), "table4": display_table4(t4)})

    def raw(self, name: str) -> pd.DataFrame:
        return {"table2": self.table2, "table4": self.table4}[name]


def write_tables(tables: Tables, out: Path) -> list[Path]:
    """``<out>/table{2,4}.{md,csv,tex}``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, shown in tables.display.items():
        paths = {ext: out / f"{name}.{ext}" for ext in ("md", "csv", "tex")}
        paths["md"].write_text(f"## {TITLES[name]}\n\n{DESCRIPTIONS[name]}\n\n"
                               f"{to_markdown(shown)}\n{LEGEND}\n")
        tables.raw(name).to_csv(paths["csv"], index=False)
        paths["tex"].write_text(to_latex(shown, caption(name)))
        written += paths.values()
    return written


@dataclass
class Generated:
    """What :func:`generate` produced."""

    out: Path
    experiments: list[Location]
    results: load.Results
    tables: Tables
    files: list[Path]
    plots: list[Path]
    wandb_url: str | None


def default_out(results: str | Path) -> Path:
    """``<results>/tables`` for a local results folder; for a URI (file://, s3://, gs://) the local
    ``results/tables``: tables and plots are for reading here, the URI keeps only the experiments."""
    local = Location.of(results).local
    return (local if local is not None else Path("results")) / "tables"


def generate(results_dir: str | Path, sweeps: list[str] | None = None, out: Path | None = None,
             use_wandb: bool = True) -> Generated:
    """Read the experiments (a local folder or a URI), write the tables and plots locally, log W&B tables
    when online."""
    out = Path(out) if out else default_out(results_dir)
    experiments = load.select_experiments(Location.of(results_dir), sweeps)
    results = load.read_results(experiments)
    tables = Tables.build(results)
    files = write_tables(tables, out)
    images = plots.write_plots(results, out / "plots")
    url = log_wandb({name: tables.raw(name) for name in TITLES}, experiments) if use_wandb else None
    return Generated(out, experiments, results, tables, files, images, url)


def common_parser(description: str) -> argparse.ArgumentParser:
    """The options shared by ``dashboards.tables`` and ``dashboards.report``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--results", default="results",
                        help="folder or URI (file://, s3://, gs://) holding the experiment folders (default: results)")
    parser.add_argument("--sweep", action="append", default=None,
                        help="experiment folder(s) to use (default: the latest per task & mode)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <results>/tables; results/tables for a URI)")
    parser.add_argument("--no-wandb", action="store_true", help="never log to W&B")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = common_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    try:
        gen = generate(args.results, args.sweep, args.out, use_wandb=not args.no_wandb)
    except load.NoExperimentsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, shown in gen.tables.display.items():
        print(f"\n{TITLES[name]}\n\n{to_markdown(shown)}")
    print(LEGEND)
    print(f"\nwrote {len(gen.files)} table files and {len(gen.plots)} plots to {gen.out}")
    if gen.wandb_url:
        print(f"W&B tables: {gen.wandb_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
