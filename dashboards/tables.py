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
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from dashboards import load, paper_numbers, plots
from dashboards.paper_numbers import PAPER_TRIALS, Reference
from dashboards.select import (
    FROM_REPRODUCE,
    best_group,
    experiment_of,
    method_name,
    schedule_groups,
    summarize,
    table2_cells,
    tasks,
)

INCOMPLETE = "†"
LEGEND = (f"{INCOMPLETE} incomplete: fewer than {PAPER_TRIALS} trials, or trials that have not "
          "reached the training length (their last evaluation is used). "
          "n = trials with an evaluation; mean ± sample std (ddof 1) of each trial's last "
          "evaluation return. p = Welch's t-test of ours against the reference's mean, std and n. "
          "'paper' = the SAC-SVG(H) authors' numbers; 'POPLIN (reported)' = POPLIN's numbers as "
          "printed in the paper's Table 2. Neither is ours.")


# ---------------------------------------------------------------- statistics


def welch_p(mean: float, std: float, n: int, ref: Reference | None) -> float:
    """Two-sided p-value of Welch's t-test from summary statistics; NaN when it is undefined."""
    if ref is None or n < 2 or not np.isfinite([mean, std]).all():
        return math.nan
    if std == 0 and ref.std == 0:
        return math.nan
    with np.errstate(all="ignore"):
        result = stats.ttest_ind_from_stats(mean, std, n, ref.mean, ref.std, ref.n,
                                            equal_var=False)
    return float(result.pvalue)


# ---------------------------------------------------------------- Table 4


def table4(results: load.Results) -> pd.DataFrame:
    """Per task with a sweep: the best schedule (ours) beside the paper's Table 4 schedule."""
    groups = schedule_groups(results.trials)
    rows = []
    for task in tasks(results, "sweep"):
        exp = experiment_of(results, task, "sweep")
        task_groups = groups[groups["task"] == task]
        best = best_group(task_groups)
        paper = exp["paper_schedule"]
        row = {"task": task, "paper_name": exp["paper_name"], "experiment": exp["experiment"],
               "configs": len(task_groups), "train_steps": exp["train_steps"]}
        if best is None:
            row.update(horizon=math.nan, h_init=math.nan, h_final=math.nan, beta=math.nan,
                       mean=math.nan, std=math.nan, n=0,
                       n_trials=int(task_groups["n_trials"].sum()), n_complete=0)
        else:
            row.update({k: best[k] for k in ["horizon", *load.SCHEDULE, "mean", "std", "n",
                                             "n_trials", "n_complete"]})
        row.update(_paper_schedule(paper))
        row["matches_paper"] = _same_schedule(row)
        row["incomplete"] = _incomplete(row["n"], row["n_trials"], row["n_complete"])
        notes = [_completeness_note(row["n"], row["n_trials"], row["n_complete"],
                                    row["train_steps"]),
                 _length_note(row["train_steps"], exp["registry_train_steps"])]
        row["note"] = "; ".join(x for x in notes if x)
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE4_COLUMNS)


TABLE4_COLUMNS = [
    "task", "paper_name", "experiment", "horizon", "h_init", "h_final", "beta", "mean", "std",
    "n", "n_trials", "n_complete", "configs", "train_steps", "paper_h_init", "paper_h_final",
    "paper_beta", "matches_paper", "incomplete", "note",
]


def _paper_schedule(paper) -> dict:
    if paper is None or (isinstance(paper, float) and math.isnan(paper)):
        return {"paper_h_init": math.nan, "paper_h_final": math.nan, "paper_beta": math.nan}
    init, final, beta = paper
    return {"paper_h_init": float(init), "paper_h_final": float(final),
            "paper_beta": math.nan if beta is None else float(beta)}


def _same_schedule(row: dict) -> bool | None:
    ours = [row["h_init"], row["h_final"], row["beta"]]
    paper = [row["paper_h_init"], row["paper_h_final"], row["paper_beta"]]
    if pd.isna(paper[0]) or pd.isna(ours[0]):
        return None
    return all((pd.isna(a) and pd.isna(b)) or a == b for a, b in zip(ours, paper))


# ---------------------------------------------------------------- Table 2


def table2(results: load.Results) -> pd.DataFrame:
    """Per task and method: ours (mean, std, n) beside the paper and POPLIN, with p-values."""
    rows = []
    for task in tasks(results):
        exp, by_h, source = table2_cells(results, task)
        for horizon in by_h:
            rows.append(_table2_row(exp, horizon, by_h[horizon], source))
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


TABLE2_COLUMNS = [
    "task", "paper_name", "suite", "method", "horizon", "source", "experiment", "train_steps",
    "mean", "std", "n", "n_trials", "n_complete", "incomplete",
    "paper_method", "paper_mean", "paper_std", "paper_n", "paper_steps", "paper_source",
    "p_vs_paper", "poplin_method", "poplin_mean", "poplin_std", "poplin_n", "p_vs_poplin",
    "note",
]


def _table2_row(exp: pd.Series, horizon: float, trials: pd.DataFrame, source: str) -> dict:
    mean, std, n = summarize(trials["final_eval"])
    n_trials, n_complete = len(trials), int(trials["complete"].sum())
    names = (exp["paper_name"], exp["task"])
    refs = paper_numbers.references(exp["suite"], names, horizon_zero=horizon == 0)
    paper, poplin = refs["paper"], refs["poplin"]
    notes = [_completeness_note(n, n_trials, n_complete, exp["train_steps"])]
    if source != FROM_REPRODUCE:
        notes.append(f"from the {source}")
    notes.append(_length_note(exp["train_steps"], paper.steps if paper else None))
    return {
        "task": exp["task"], "paper_name": exp["paper_name"], "suite": exp["suite"],
        "method": method_name(horizon), "horizon": horizon, "source": source,
        "experiment": exp["experiment"], "train_steps": exp["train_steps"],
        "mean": mean, "std": std, "n": n, "n_trials": n_trials, "n_complete": n_complete,
        "incomplete": _incomplete(n, n_trials, n_complete),
        **_reference_columns("paper", paper), "paper_steps": paper.steps if paper else math.nan,
        "paper_source": paper.source if paper else "",
        "p_vs_paper": welch_p(mean, std, n, paper),
        **_reference_columns("poplin", poplin), "p_vs_poplin": welch_p(mean, std, n, poplin),
        "note": "; ".join(x for x in notes if x),
    }


def _reference_columns(prefix: str, ref: Reference | None) -> dict:
    if ref is None:
        return {f"{prefix}_method": "", f"{prefix}_mean": math.nan, f"{prefix}_std": math.nan,
                f"{prefix}_n": math.nan}
    return {f"{prefix}_method": ref.method, f"{prefix}_mean": ref.mean, f"{prefix}_std": ref.std,
            f"{prefix}_n": ref.n}


# ---------------------------------------------------------------- shared helpers


def _incomplete(n: int, n_trials: int, n_complete: int) -> bool:
    return n < PAPER_TRIALS or n_complete < n_trials or n < n_trials


def _completeness_note(n: int, n_trials: int, n_complete: int, train_steps) -> str:
    if n_trials == 0:
        return "no trials"
    parts = []
    if n < PAPER_TRIALS:
        parts.append(f"{n} of {PAPER_TRIALS} trials")
    if n_complete < n_trials:
        parts.append(f"{n_trials - n_complete} of {n_trials} not at {_steps(train_steps)} steps")
    if n < n_trials:
        parts.append(f"{n_trials - n} without an evaluation")
    return ", ".join(parts)


def _length_note(train_steps, reference_steps) -> str:
    """Says when our training length differs from the reference's (e.g. a smoke budget)."""
    if not reference_steps or pd.isna(reference_steps) or train_steps == reference_steps:
        return ""
    return f"trained {_steps(train_steps)} steps, reference {_steps(reference_steps)}"


def _task_label(task: str, paper_name: str) -> str:
    return task if not paper_name or paper_name == task else f"{task} ({paper_name})"


def _steps(steps) -> str:
    if steps is None or pd.isna(steps):
        return "?"
    steps = int(steps)
    if steps >= 1_000_000 and steps % 100_000 == 0:
        return f"{steps / 1e6:g}M"
    return f"{steps // 1000}k" if steps >= 1000 and steps % 1000 == 0 else str(steps)


# ---------------------------------------------------------------- display and files


def fmt_stat(mean: float, std: float, n) -> str:
    """'mean ± std (n=k)'; '—' when there is nothing to show."""
    if pd.isna(mean):
        return f"— (n={int(n)})" if not pd.isna(n) else "—"
    spread = "n/a" if pd.isna(std) else f"{std:.1f}"
    return f"{mean:.1f} ± {spread} (n={int(n)})"


def fmt_p(p: float) -> str:
    if pd.isna(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_num(x) -> str:
    return "—" if x is None or pd.isna(x) else f"{x:g}"


def display_table2(t2: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as printed: ours, the paper and POPLIN (reported) side by side."""
    rows = []
    for _, r in t2.iterrows():
        ours = fmt_stat(r["mean"], r["std"], r["n"]) + (f" {INCOMPLETE}" if r["incomplete"] else "")
        rows.append({
            "Task": _task_label(r["task"], r["paper_name"]),
            "Method": r["method"],
            "Steps": _steps(r["train_steps"]),
            "Ours": ours,
            "Paper": _ref_cell(r, "paper"),
            "p vs paper": fmt_p(r["p_vs_paper"]),
            "POPLIN (reported)": _ref_cell(r, "poplin"),
            "p vs POPLIN": fmt_p(r["p_vs_poplin"]),
            "Notes": r["note"],
        })
    return pd.DataFrame(rows, columns=["Task", "Method", "Steps", "Ours", "Paper", "p vs paper",
                                       "POPLIN (reported)", "p vs POPLIN", "Notes"])


def _ref_cell(r: pd.Series, prefix: str) -> str:
    if not r[f"{prefix}_method"]:
        return "—"
    label = r[f"{prefix}_method"]
    return f"{label}: {fmt_stat(r[f'{prefix}_mean'], r[f'{prefix}_std'], r[f'{prefix}_n'])}"


def display_table4(t4: pd.DataFrame) -> pd.DataFrame:
    """Table 4 as printed: our best schedule beside the paper's."""
    rows = []
    for _, r in t4.iterrows():
        best = fmt_stat(r["mean"], r["std"], r["n"]) + (f" {INCOMPLETE}" if r["incomplete"] else "")
        rows.append({
            "Task": _task_label(r["task"], r["paper_name"]), "H": fmt_num(r["horizon"]),
            "Ours H_init": fmt_num(r["h_init"]), "Ours H_final": fmt_num(r["h_final"]),
            "Ours beta": fmt_num(r["beta"]), "Best mean final eval": best,
            "Configs": int(r["configs"]),
            "Paper H_init": fmt_num(r["paper_h_init"]), "Paper H_final": fmt_num(r["paper_h_final"]),
            "Paper beta": fmt_num(r["paper_beta"]) if not pd.isna(r["paper_h_init"]) else "—",
            "Same as paper": {True: "yes", False: "no"}.get(r["matches_paper"], "—"),
            "Notes": r["note"],
        })
    return pd.DataFrame(rows, columns=["Task", "H", "Ours H_init", "Ours H_final", "Ours beta",
                                       "Best mean final eval", "Configs", "Paper H_init",
                                       "Paper H_final", "Paper beta", "Same as paper", "Notes"])


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |",
             "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}", "±": r"$\pm$", INCOMPLETE: r"$^\dagger$",
                "—": "--", "<": r"$<$"}


def tex_escape(text) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(df: pd.DataFrame, caption: str) -> str:
    """A booktabs LaTeX table."""
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{" + "l" * len(df.columns) + "}", r"\toprule",
             " & ".join(tex_escape(c) for c in df.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(tex_escape(x) for x in row) + r" \\" for row in df.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + tex_escape(caption) + "}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


TITLES = {"table2": "Table 2 (regenerated)", "table4": "Table 4 (regenerated)"}
DESCRIPTIONS = {
    "table2": "Final evaluation return of our runs (mean ± std over trials) beside the paper's "
              "and POPLIN's reported numbers.",
    "table4": "The target entropy schedule with the highest mean final evaluation return in our "
              "sweep, beside the paper's Table 4.",
}


def caption(name: str) -> str:
    """A table's full caption: title, description and legend."""
    return f"{TITLES[name]}: {DESCRIPTIONS[name]} {LEGEND}"


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


# ---------------------------------------------------------------- W&B


def wandb_api_key() -> str | None:
    """The W&B API key: WANDB_API_KEY, else the one `wandb login` stored (None when neither)."""
    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"]
    try:
        import wandb

        return wandb.api.api_key
    except Exception:  # noqa: BLE001 - no wandb or unreadable settings: offline
        return None


def wandb_online() -> bool:
    """W&B is online: an API key is present and WANDB_MODE is neither offline nor disabled."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    return mode not in ("offline", "disabled", "dryrun") and bool(wandb_api_key())


def log_wandb(tables: Tables, experiments: list[Path]) -> str | None:
    """Log both tables (raw columns) as W&B tables to project ``$WANDB_PROJECT`` (svglab), in the
    experiment's group when there is one experiment; returns the run URL, None when offline or
    when W&B fails (a warning is printed: tables never fail over W&B)."""
    if not wandb_online():
        return None
    try:
        import wandb

        group = Path(experiments[0]).name if len(experiments) == 1 else "tables"
        run = wandb.init(project=os.environ.get("WANDB_PROJECT", "svglab"), group=group,
                         job_type="tables", name=f"tables-{group}")
        with run:
            for name in ("table2", "table4"):
                raw = tables.raw(name)
                run.log({name: wandb.Table(dataframe=raw.astype(object).where(raw.notna(), None))})
            return run.url
    except Exception as error:  # noqa: BLE001 - any W&B problem
        print(f"warning: could not log the tables to W&B: {error}", file=sys.stderr)
        return None


# ---------------------------------------------------------------- everything at once


@dataclass
class Generated:
    """What :func:`generate` produced."""

    out: Path
    experiments: list[Path]
    results: load.Results
    tables: Tables
    files: list[Path]
    plots: list[Path]
    wandb_url: str | None


def default_out(results_dir: Path) -> Path:
    return Path(results_dir) / "tables"


def generate(results_dir: Path, sweeps: list[Path] | None = None, out: Path | None = None,
             use_wandb: bool = True) -> Generated:
    """Read the experiments, write the tables and plots, log W&B tables when online."""
    out = Path(out) if out else default_out(results_dir)
    experiments = load.select_experiments(Path(results_dir), sweeps)
    results = load.read_results(experiments)
    tables = Tables.build(results)
    files = write_tables(tables, out)
    images = plots.write_plots(results, out / "plots")
    url = log_wandb(tables, experiments) if use_wandb else None
    return Generated(out, experiments, results, tables, files, images, url)


def common_parser(description: str) -> argparse.ArgumentParser:
    """The options shared by ``dashboards.tables`` and ``dashboards.report``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="folder holding the experiment folders (default: results)")
    parser.add_argument("--sweep", type=Path, action="append", default=None,
                        help="experiment folder(s) to use (default: the latest per task & mode)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <results>/tables)")
    parser.add_argument("--no-wandb", action="store_true", help="never log to W&B")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = common_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    gen = generate(args.results, args.sweep, args.out, use_wandb=not args.no_wandb)
    if not gen.experiments:
        print(f"no experiment folders (with sweep.json) under {args.results}", file=sys.stderr)
    for name, shown in gen.tables.display.items():
        print(f"\n{TITLES[name]}\n\n{to_markdown(shown)}")
    print(LEGEND)
    print(f"\nwrote {len(gen.files)} table files and {len(gen.plots)} plots to {gen.out}")
    if gen.wandb_url:
        print(f"W&B tables: {gen.wandb_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
