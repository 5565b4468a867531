"""`make tasks`: the task registry, one line per task: name, suite, observation and action dimensions,
training length, evaluation interval, Table 4's and the official code's target-entropy schedules (eq. 14's
H_init, H_final, beta; '-' = a constant target entropy), and how to name any other task.
`python -m tasks NAME ...`: those lines for the named tasks, any other task's derived, or its one-line error."""
import sys

from tasks.registry import TASKS, EntropySchedule, Task, UnknownTaskError


def schedule(s: EntropySchedule | None) -> str:
    if s is None:
        return "-"
    beta = "-" if s.target_entropy_beta is None else f"{s.target_entropy_beta:g}"
    return f"{s.target_entropy_init:g}, {s.target_entropy_final:g}, {beta}"


def rows(tasks: list[Task]) -> list[list[str]]:
    header = ["task", "suite", "obs", "act", "env steps", "eval every", "Table 4 (H_init, H_final, beta)",
              "official code"]
    return [header] + [[t.name, t.suite, str(t.obs_dim), str(t.act_dim), f"{t.train_steps:,}",
                        f"{t.eval_interval:,}", schedule(t.schedule), schedule(t.official_schedule)]
                       for t in tasks]


def main(argv: list[str] | None = None) -> int:
    named = sys.argv[1:] if argv is None else argv
    if named:
        from tasks.resolve import get_task

        try:
            print_table(rows([get_task(name) for name in named]))
        except UnknownTaskError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    print_table(rows(list(TASKS.values())))
    print("\nTASK= takes any of these names (case-insensitive). How each differs from the paper's: docs/tasks.md")
    print(OTHER_TASKS)
    return 0


OTHER_TASKS = """
TASK= also takes any other task with a bounded Box action space and flat Box (or Dict of Box) observations
(docs/tasks.md, "Your own task"):
  TASK=InvertedPendulum-v5          a gymnasium id
  TASK=my_envs:Arm-v0               gymnasium's module:EnvId (importing my_envs registers Arm-v0)
  TASK=my_package.envs:make_arm     a gymnasium.Env class, or a function returning one
Its sizes, episode limit, training length, evaluation interval and target entropy are derived (each one a --set
away): `python -m tasks InvertedPendulum-v5` shows them, or says in one line why the task cannot run."""


def print_table(table: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
