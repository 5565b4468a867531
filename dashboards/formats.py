"""How the tables look: cell formatting, the legend and captions, and the Markdown and LaTeX writers."""

from __future__ import annotations

import pandas as pd

from dashboards.paper_numbers import PAPER_TRIALS

INCOMPLETE = "†"
REDUCED = "‡"


LEGEND = (f"{INCOMPLETE} incomplete: fewer than {PAPER_TRIALS} trials, or trials that have not "
          "reached the training length (their last evaluation is used). "
          f"{REDUCED} reduced budget (BUDGET=short or smoke): smaller networks and shorter runs than Table 3 "
          "and the paper's; beside the paper's numbers it shows learning, it is not a reproduction. "
          "n = trials with an evaluation; mean ± sample std (ddof 1) of each trial's last "
          "evaluation return. p = Welch's t-test of ours against the reference's mean, std and n; "
          "'p vs our SAC' = Welch's t-test of SAC-SVG(H)'s trials against the SAC (H=0) trials of the same run. "
          "'paper' = the SAC-SVG(H) authors' numbers; 'POPLIN (reported)' = POPLIN's numbers as "
          "printed in the paper's Table 2. Neither is ours.")


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
