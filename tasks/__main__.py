"""`make tasks`: the task registry, one line per task: name, suite, observation and action dimensions,
training length, evaluation interval, Table 4's and the official code's target-entropy schedules (eq. 14's
H_init, H_final, beta; '-' = a constant target entropy)."""
import sys

from tasks.registry import TASKS, EntropySchedule


def schedule(s: EntropySchedule) -> str:
    beta = "-" if s.target_entropy_beta is None else f"{s.target_entropy_beta:g}"
    return f"{s.target_entropy_init:g}, {s.target_entropy_final:g}, {beta}"


def rows() -> list[list[str]]:
    header = ["task", "suite", "obs", "act", "env steps", "eval every", "Table 4 (H_init, H_final, beta)",
              "official code"]
    return [header] + [[t.name, t.suite, str(t.obs_dim), str(t.act_dim), f"{t.train_steps:,}",
                        f"{t.eval_interval:,}", schedule(t.schedule), schedule(t.official_schedule)]
                       for t in TASKS.values()]


def main() -> int:
    table = rows()
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print("\nTASK= takes any of these names (case-insensitive). How each differs from the paper's: docs/tasks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
