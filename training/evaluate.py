"""``python -m training.evaluate``: the scoreboard of every policy on the held-out cases
(``training.evaluation.scoreboard``)."""

from training.evaluation.scoreboard import main

if __name__ == "__main__":
    raise SystemExit(main())
