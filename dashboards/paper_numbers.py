"""Published numbers that svglab compares against, each labelled with where it comes from.

These are *references*, never our results: tables put them in columns named "paper" or
"POPLIN (reported)" beside "ours (n=...)". Table 4's schedules are not here: they live with the
task registry (``tasks``, ``Task.schedule``).

Sources
-------
- ``PAPER_TABLE2``: Amos, Stanton, Yarats, Wilson, "On the model-based stochastic value gradient
  for continuous reinforcement learning", Table 2 (POPLIN tasks; mean +- std over 10 trials for the
  authors' rows; rows marked '*' in the paper were copied by the authors from POPLIN).
- ``OFFICIAL_MBPO``: results of the paper's official code (facebookresearch/svg) on the MBPO tasks,
  10 seeds, as docs/official-code.md records them (the paper itself only plots them, Figure 2).
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER = "SAC-SVG(H) paper, Table 2"
POPLIN = "POPLIN (Wang and Ba, 2019), as reported in the SAC-SVG(H) paper's Table 2"
OFFICIAL = "official SAC-SVG code (facebookresearch/svg), 10 seeds (docs/official-code.md)"

PAPER_TRIALS = 10  # the paper: "We run our method for ten trials"
POPLIN_TRIALS = 4  # POPLIN's own numbers are over 4 seeds (docs/official-code.md)


@dataclass(frozen=True)
class Reference:
    """One published mean +- std over ``n`` trials, with its source and what it measures."""

    method: str
    mean: float
    std: float
    n: int
    source: str
    steps: int | None = None
    metric: str = "final evaluation return"


# Table 2's columns, in the paper's order, and its "Training Timesteps" row.
TABLE2_TASKS = ("Ant", "Hopper", "Swimmer", "Cheetah", "Walker2d", "PETS Cheetah")
TABLE2_STEPS = {
    "Ant": 200_000,
    "Hopper": 200_000,
    "Swimmer": 50_000,
    "Cheetah": 200_000,
    "Walker2d": 200_000,
    "PETS Cheetah": 50_000,
}

# Table 2's rows: method -> (trial count, source, {paper task name: (mean, std)}).
_TABLE2_ROWS = {
    "SAC-SVG(H) (paper)": (PAPER_TRIALS, PAPER, {
        "Ant": (3977.68, 984.19), "Hopper": (1869.73, 1072.48), "Swimmer": (344.31, 6.17),
        "Cheetah": (8211.56, 1125.93), "Walker2d": (-242.61, 1672.62),
        "PETS Cheetah": (5086.40, 295.14)}),
    "SAC (paper)": (PAPER_TRIALS, PAPER, {
        "Ant": (584.89, 129.64), "Hopper": (2241.77, 1071.03), "Swimmer": (344.32, 3.79),
        "Cheetah": (6211.28, 1464.77), "Walker2d": (-469.51, 806.12),
        "PETS Cheetah": (2260.58, 688.20)}),
    "POPLIN-P": (POPLIN_TRIALS, POPLIN, {
        "Ant": (2330.1, 320.9), "Hopper": (2055.2, 613.8), "Swimmer": (334.4, 34.2),
        "Cheetah": (4235.0, 1133.0), "Walker2d": (597.0, 478.8),
        "PETS Cheetah": (12227.9, 5652.8)}),
    "SAC (POPLIN)": (POPLIN_TRIALS, POPLIN, {
        "Ant": (548.1, 146.6), "Hopper": (788.3, 738.2), "Swimmer": (204.6, 69.3),
        "Cheetah": (3459.8, 1326.6), "Walker2d": (164.5, 1318.6),
        "PETS Cheetah": (1745.9, 839.2)}),
    "PETS (POPLIN)": (POPLIN_TRIALS, POPLIN, {
        "Ant": (1165.5, 226.9), "Hopper": (114.9, 621.0), "Swimmer": (326.2, 12.6),
        "Cheetah": (2288.4, 1019.0), "Walker2d": (282.5, 501.6),
        "PETS Cheetah": (4204.5, 789.0)}),
    "METRPO (POPLIN)": (POPLIN_TRIALS, POPLIN, {
        "Ant": (282.2, 18.0), "Hopper": (1272.5, 500.9), "Swimmer": (225.5, 104.6),
        "Cheetah": (2283.7, 900.4), "Walker2d": (-1609.3, 657.5),
        "PETS Cheetah": (-744.8, 707.1)}),
    "TD3 (POPLIN)": (POPLIN_TRIALS, POPLIN, {
        "Ant": (870.1, 283.8), "Hopper": (1816.6, 994.8), "Swimmer": (72.1, 130.9),
        "Cheetah": (3015.7, 969.8), "Walker2d": (-516.4, 812.2),
        "PETS Cheetah": (218.9, 593.3)}),
}

# docs/official-code.md: official MBPO-task results over 10 seeds, (best eval, last eval) as (mean, std).
# Keyed by the MuJoCo task name; the training length is the official runs' (docs/official-code.md).
_OFFICIAL_MBPO = {
    "Ant": ((8289, 1183), (8164, 1312), 2_000_000),
    "HalfCheetah": ((14571, 2871), (13222, 3861), 2_000_000),
    "Hopper": ((3917, 169), (3642, 531), 1_000_000),
    "Humanoid": ((9626, 775), (8062, 2809), 5_000_000),
    "Walker2d": ((6029, 308), (5753, 648), 2_000_000),
}
# Table 4 calls HalfCheetah "Cheetah"; accept either name.
_MBPO_ALIASES = {"Cheetah": "HalfCheetah"}


def table2_rows() -> tuple[str, ...]:
    """The methods of the paper's Table 2 held here, in the paper's order."""
    return tuple(_TABLE2_ROWS)


def table2(method: str, paper_name: str) -> Reference | None:
    """One cell of the paper's Table 2, or None when the paper has no such cell."""
    n, source, cells = _TABLE2_ROWS[method]
    if paper_name not in cells:
        return None
    mean, std = cells[paper_name]
    return Reference(method, mean, std, n, source, TABLE2_STEPS[paper_name])


def official_mbpo(task: str, which: str = "last") -> Reference | None:
    """The official code's MBPO-task result ('last' or 'best' evaluation), or None."""
    key = _MBPO_ALIASES.get(task, task)
    if key not in _OFFICIAL_MBPO:
        return None
    best, last, steps = _OFFICIAL_MBPO[key]
    mean, std = last if which == "last" else best
    metric = "last evaluation return" if which == "last" else "best evaluation return"
    return Reference(f"SAC-SVG(H) (official code, {which} eval)", mean, std, PAPER_TRIALS,
                     OFFICIAL, steps, metric)


def references(suite: str, names: tuple[str, ...], horizon_zero: bool) -> dict[str, Reference | None]:
    """The references for one row of our Table 2.

    ``names`` are the task's candidate names (paper name first). Returns ``{"paper": ...,
    "poplin": ...}``: the authors' own number for the same method (the paper for POPLIN tasks,
    the official code's last evaluation for MBPO tasks, nothing for the MBPO SAC baseline) and
    POPLIN's reported number (POPLIN-P against SAC-SVG(H), POPLIN's SAC against our SAC).
    """
    if suite == "poplin":
        name = next((n for n in names if n in TABLE2_STEPS), None)
        if name is None:
            return {"paper": None, "poplin": None}
        ours, theirs = ("SAC (paper)", "SAC (POPLIN)") if horizon_zero else (
            "SAC-SVG(H) (paper)", "POPLIN-P")
        return {"paper": table2(ours, name), "poplin": table2(theirs, name)}
    if horizon_zero:
        return {"paper": None, "poplin": None}
    ref = next((r for r in (official_mbpo(n) for n in names) if r is not None), None)
    return {"paper": ref, "poplin": None}
