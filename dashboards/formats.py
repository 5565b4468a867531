"""How the tables look: cell formatting, the legend and captions, and the Markdown and LaTeX writers."""

from __future__ import annotations

import pandas as pd

from dashboards.intervals import MIN_TRIALS
from dashboards.paper_numbers import PAPER_TRIALS

INCOMPLETE = "†"
REDUCED = "‡"


LEGEND = (f"{INCOMPLETE} incomplete: fewer than {PAPER_TRIALS} trials, or trials that have not "
          "reached the training length (their last evaluation is used). "
          f"{REDUCED} reduced budget (BUDGET=short or smoke): smaller networks and shorter runs than Table 3 "
          "and the paper's; beside the paper's numbers it shows learning, it is not a reproduction. "
          "n = trials with an evaluation; mean ± sample std (ddof 1) of each trial's last "
          "evaluation return (the paper's format). p = Welch's t-test of ours against the reference's mean, std "
          "and n. IQM (interquartile mean) and Mean [95% CI] = over the trials' scores (the notes say which "
          "score: the last evaluation or the mean of the last k), each with a 95% stratified bootstrap "
          f"confidence interval (rliable); below {MIN_TRIALS} trials the point estimate alone, with why. "
          "'P(> our SAC)' = probability that a SAC-SVG(H) trial's score beats a SAC (H=0) trial's of the same "
          "run (ties half), with its 95% interval. "
          "'paper' = the SAC-SVG(H) authors' numbers; 'POPLIN (reported)' = POPLIN's numbers as "
          "printed in the paper's Table 2. Neither is ours.")


TITLES = {"table2": "Table 2 (regenerated)",
          "table2_poi": "Table 2: SAC-SVG(H) against SAC over the tasks present",
          "table4": "Table 4 (regenerated)"}


DESCRIPTIONS = {
    "table2": "Final evaluation return of our runs (mean ± std over trials) beside the paper's "
              "and POPLIN's reported numbers; the IQM and mean of our trials' scores with 95% intervals.",
    "table2_poi": "Probability of improvement of SAC-SVG(H) over the SAC trials of the same runs, averaged "
                  "over the tasks that have both (each task weighs the same), with its 95% stratified "
                  "bootstrap interval (rliable).",
    "table4": "The target entropy schedule with the highest mean final evaluation return in our "
              "sweep, beside the paper's Table 4; the IQM and mean of its trials' scores with 95% intervals.",
}


def caption(name: str) -> str:
    """A table's full caption: title, description and legend."""
    return f"{TITLES[name]}: {DESCRIPTIONS[name]} {LEGEND}"


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


def fmt_steps(steps) -> str:
    if steps is None or pd.isna(steps):
        return "?"
    steps = int(steps)
    if steps >= 1_000_000 and steps % 100_000 == 0:
        return f"{steps / 1e6:g}M"
    return f"{steps // 1000}k" if steps >= 1000 and steps % 1000 == 0 else str(steps)


def task_label(task: str, paper_name: str) -> str:
    return task if not paper_name or paper_name == task else f"{task} ({paper_name})"


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
                "^": r"\textasciicircum{}", "±": r"$\pm$", INCOMPLETE: r"$^\dagger$", REDUCED: r"$^\ddagger$",
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
