"""How policies are scored: held-out cases, the scoreboard, noise draws with paired statistics, the report,
and the one judging function that the gate and the scoreboard share."""
