"""Studies: the tables that judge losses, on one resumable runner with a small adapter per suite.

A study trains *members* (a named baseline with its hyperparameters, or an objective file) on every
(task, seed) cell of a split, appends one JSON row per trained member, and reports the rows. What is the same
for every suite lives here once:

* :mod:`~symmpo.studies.members`: the members (named baselines from the named table, each with its scale
  parameter; objective files, found in search runs), the sweep grid;
* :mod:`~symmpo.studies.rows`: rows keyed by their configuration (append-only JSONL; resume = skip the rows
  already present; the latest dataset of a task wins);
* :mod:`~symmpo.studies.sweep`: the choice per column on the fitness split (best mean score per loss, the
  column's best baseline, choices on the edge of the grid);
* :mod:`~symmpo.studies.tables`: the lines every table shares (plain baselines, power, parameters).

The suites' adapters say how to train and score members on one cell: :mod:`~symmpo.studies.mujoco` (the
MuJoCo suite: one population per (task, seed)), :mod:`~symmpo.studies.text` (the sorting suite through TRL)
and :mod:`~symmpo.studies.llm` (SmolLM2 with LoRA). The studies themselves are thin definitions on them:
:mod:`~symmpo.studies.bench` (``symmpo bench``), :mod:`~symmpo.studies.compare` (``symmpo compare``),
:mod:`~symmpo.studies.fidelity` (``symmpo fidelity``), and the transfer tables of the text and LLM adapters
(``symmpo transfer``).
"""
