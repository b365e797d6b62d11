"""A token-level preference suite: sorting short digit strings with a tiny causal LM trained by TRL.

The MuJoCo suite asks which loss learns best from imperfect preferences over action sequences; this package
asks the same question over token sequences, with the same dataset settings and statistics, so a loss found
on MuJoCo can be judged on text. Modules: :mod:`~symmpo.text.task` (prompts, true reward),
:mod:`~symmpo.text.behaviour` (graded response generators), :mod:`~symmpo.text.datasets` (pools, pairs,
cache), :mod:`~symmpo.text.config` (one frozen run configuration), :mod:`~symmpo.text.lm` (tokenizer, model,
SFT reference, greedy evaluation), :mod:`~symmpo.text.po` (one PO run through ``MPOTrainer``); the transfer table is
:mod:`~symmpo.studies.text`.
"""
