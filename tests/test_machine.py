"""Which machine computed a number (symmpo/machine.py), and the reports that say when rows mix machines."""

from __future__ import annotations

import torch

from symmpo.files import read_jsonl
from symmpo.machine import fingerprint
from symmpo.studies import invocations


def test_the_fingerprint_names_the_cpu_its_vector_instructions_and_torch():
    cpu, capability, version = fingerprint().split(" · ")
    assert cpu and capability == torch.backends.cpu.get_cpu_capability()
    assert version == f"torch {torch.__version__}"


def test_a_study_records_its_machine_and_says_when_rows_mix_machines(tmp_path):
    invocations.record(tmp_path, 12.0)
    (row,) = read_jsonl(tmp_path / invocations.FILE)
    assert row["machine"] == fingerprint()
    assert "more than one machine" not in invocations.produced_by(tmp_path)  # one machine: nothing to say
    assert invocations.machines_note(["a", "a"]) == "" and invocations.machines_note([None, None]) == ""
    two = invocations.machines_note(["a", "b"])
    assert "more than one machine (a; b)" in two
    assert "1 invocation(s) from before machines were recorded" in invocations.machines_note(["a", None])
