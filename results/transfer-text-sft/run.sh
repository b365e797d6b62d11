#!/usr/bin/env bash
# The held-out transfer table with π_ref trained on separate SFT data (poor + fair responses, 8 epochs).
# Resumable: rerun after an interruption. Run from the repository root.
set -euo pipefail
nice -n 10 "${SYMMPO:-symmpo}" transfer text --sft-levels poor fair --sft-epochs 8 --sweep --seeds 10 \
  --settings clean mixed-0.5 --workers 2 --no-progress \
  --objectives dpo ipo simpo orpo rpo sft_chosen \
  evolve-default-v2=results/evolve-default-v2/objectives/hof_01.yaml \
  v1-hopper-mixed=results/archive-suite-v1/study-hopper-mixed/objectives/hof_01.yaml \
  v1-hopper-noisy=results/archive-suite-v1/study-hopper-noisy/objectives/hof_01.yaml \
  v1-halfcheetah-noisy=results/archive-suite-v1/study-halfcheetah-noisy/objectives/hof_01.yaml \
  v1-ta-hopper-mixed=results/archive-suite-v1/study-ta-hopper-mixed/objectives/hof_01.yaml \
  v1-ta-hopper-noisy=results/archive-suite-v1/study-ta-hopper-noisy/objectives/hof_01.yaml \
  --out results/transfer-text-sft
