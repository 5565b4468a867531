"""Tables 2 and 4 of the paper, regenerated from sweep outputs, beside the published numbers.

``python -m dashboards.tables --results DIR [--sweep FOLDER ...] [--out DIR] [--score RULE]`` reads the
latest experiment folder per task and mode (or the given ones) and writes ``table2``, ``table2_poi`` and
``table4`` as Markdown, CSV and LaTeX, the plots (``plots/*.png``) and, when W&B is online, W&B tables.

- Table 4 (sweep folders): per task, the schedule (H_init, H_final, beta) whose seeds have the
  highest mean final evaluation return, beside the paper's Table 4 schedule.
- Table 2 (reproduce folders; else the best schedule's trials of the sweep, said in the notes):
  per task and method (SAC-SVG(H), SAC = H 0), mean and sample std (ddof 1) of the final
  evaluation returns, with Welch's t-test against the paper's and POPLIN's reported numbers; the IQM
  and mean of the trials' scores (``--score``) with 95% stratified bootstrap intervals (rliable), and
  SAC-SVG(H)'s probability of improvement over the SAC trials of the same run (``table2_poi``: over
  the tasks present).

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
from dashboards.intervals import AUTO_SCORE, BOOTSTRAP_REPS, REDUCED_LAST_K, ScoreRule
from dashboards.table2 import display_poi, display_table2, poi_table, table2
from dashboards.table4 import display_table4, table4
from dashboards.wandb_tables import log_wandb
from sweeps.storage import Location


@dataclass
class Tables:
    """The raw (numeric) and display versions of both tables."""

    table2: pd.DataFrame
    table4: pd.DataFrame
    table2_poi: pd.DataFrame
    display: dict[str, pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def build(cls, results: load.Results, reps: int = BOOTSTRAP_REPS) -> Tables:
        t2, t4, poi = table2(results, reps), table4(results, reps), poi_table(results, reps)
        return cls(t2, t4, poi, {"table2": display_table2(t2), "table2_poi": display_poi(poi),
                                 "table4": display_table4(t4)})

    def raw(self, name: str) -> pd.DataFrame:
        return {"table2": self.table2, "table2_poi": self.table2_poi, "table4": self.table4}[name]


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
             use_wandb: bool = True, score: ScoreRule = AUTO_SCORE, curves: str = plots.IQM,
             reps: int = BOOTSTRAP_REPS) -> Generated:
    """Read the experiments (a local folder or a URI) with each trial scored by ``score``, write the tables
    and plots (learning curves as ``curves``: IQM or mean-std) locally, log W&B tables when online."""
    out = Path(out) if out else default_out(results_dir)
    experiments = load.select_experiments(Location.of(results_dir), sweeps)
    results = load.read_results(experiments, score)
    tables = Tables.build(results, reps)
    files = write_tables(tables, out)
    images = plots.write_plots(results, out / "plots", curves, reps)
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
    parser.add_argument("--score", type=_score_rule, default=AUTO_SCORE, metavar="RULE",
                        help="a trial's score for the IQM, mean and probability of improvement: 'last' (the last "
                             "evaluation, the paper's), 'mean-last-K' (the mean of the last K evaluations) or "
                             f"'auto' (default: last for the paper budget, mean-last-{REDUCED_LAST_K} for reduced "
                             "budgets); mean ± std and the Welch tests always use the last evaluation")
    parser.add_argument("--curves", choices=plots.CURVES, default=plots.IQM,
                        help="learning curves: the IQM with its 95%% bootstrap band (default) or mean ± 1 std")
    return parser


def _score_rule(text: str) -> ScoreRule:
    try:
        return ScoreRule.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    args = common_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    try:
        gen = generate(args.results, args.sweep, args.out, use_wandb=not args.no_wandb, score=args.score,
                       curves=args.curves)
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
