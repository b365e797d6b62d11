#!/usr/bin/env bash
# The discovery study on suite v3 (issue 19, part 4): its searches one after another, Hopper first (the clean-column
# target of issue 18 holds on Hopper v3, not on HalfCheetah). Progress: README.md, `run.sh describe`.
#
#   bash results/discovery-v3/run.sh             # every search, in the order below
#   bash results/discovery-v3/run.sh hopper      # the Hopper searches only (1-7)
#   bash results/discovery-v3/run.sh search token-hopper-mixed ta-hopper-mixed   # named searches, in that order
#   bash results/discovery-v3/run.sh describe    # per search: candidates, trainings, estimated cost, progress
#   bash results/discovery-v3/run.sh baselines   # the baselines' sweep at the searches' fitness (for part 5)
#   bash results/discovery-v3/run.sh runs        # the started searches side by side: runs.md, runs.png
#   bash results/discovery-v3/run.sh verdict     # part 5: the top 3 of each finished search vs the tuned baselines
#   bash results/discovery-v3/run.sh anchor      # the verdict again, RPO's and CPO's NLL weight also tuned
#
# Resumable: each search writes results/discovery-v3/<name>/ and checkpoints after every generation; a search
# whose folder holds a config.yaml is continued with `symmpo evolve --resume` (its own configuration, nothing
# retrained), one that has finished only prints its report again. So after any interruption (Ctrl-C, SIGTERM,
# reboot) re-run the same command. Logs: results/discovery-v3/<name>.log (appended).
#
# Every search: fitness = 2 preference datasets (0, 3) x 3 training seeds at 1000 PO steps, 10 episodes
# (results/fidelity/v3/: rho 0.87 / 0.80 / 0.85 against held out); population 32 x 18 generations, about 517
# candidates trained x 6 trainings >= 1,500 two-seed-equivalent evaluations (issue 19; re-asked elites, duplicates
# and invalid genomes train nothing: 32 x 16 trained 459 in search 1, which was extended to 18); the top 5 by
# fitness, and DPO, re-scored at the end on the held-out split (dataset 1, seeds 1000-1019, resets from 50,000).
#
#   #  name                preset                            tasks                                     trainings
#   1  hopper-mixed        v3-hopper-mixed                   hopper-mixed-0.5@v3                       6
#   2  hopper-noisy        v3-hopper-noisy                   hopper-noisy-0.2@v3                       6
#   3  hopper-mixed-seed1  v3-hopper-mixed --search-seed 1   hopper-mixed-0.5@v3 (search variance)     6
#   4  multi-hopper        v3-multi-hopper                   hopper-mixed-0.5@v3, hopper-noisy-0.2@v3  12
#   5  ta-hopper-mixed     v3-ta-hopper-mixed                hopper-mixed-0.5@v3, grammar ta_mirror    6
#   6  neural-hopper-mixed v3-hopper-mixed --sft (evolve-neural)  hopper-mixed-0.5@v3, neural components  6
#      (--sft: the networks also learn an imitation weight, as the grammar's objectives have one)
#      (then `symmpo distill` of its best network into closed forms, RUN/distill/)
#   7  token-hopper-mixed  v3-hopper-mixed --grammar mirror_token  hopper-mixed-0.5@v3, per-token form  6
#      (issue 19 part 2: the per-token form compared with the sequence form "by what a search finds"; search 1 is
#      its twin)
#   8  halfcheetah-noisy   v3-halfcheetah-noisy              halfcheetah-noisy-0.2@v3                  6
#   9  halfcheetah-mixed   v3-halfcheetah-mixed              halfcheetah-mixed-0.5@v3                  6
#   (trainings per candidate = tasks x fitness seeds)
#
# Measured cost per bred candidate of a one-task search (6 trainings; README.md, "Cost"): 15.4 core-s on
# hopper-mixed-0.5@v3, 17.5 on halfcheetah-noisy-0.2@v3 (1-generation runs, population 15, nice 10, 2 workers, load
# average 2.6-5.8 on the 2 cores: the command got 0.7 of a core). A search of 512 candidates: about 2.2 core-hours
# on Hopper (4.4 multi-task), 2.5 on HalfCheetah; all nine about 25 core-hours. `run.sh describe` for the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=results/discovery-v3
SYMMPO=${SYMMPO:-symmpo}
PYTHON=${PYTHON:-python}
NICE=${NICE:-10}
# cells (whole populations) the baselines' sweep and the verdict train at once, one process each
WORKERS=${WORKERS:-1}
# core-seconds per bred candidate of a one-task search (fitness only), measured (README.md, "Cost")
COST_HOPPER=${COST_HOPPER:-15.4}
COST_HALFCHEETAH=${COST_HALFCHEETAH:-17.5}

# name | preset | extra options of a new run | command (default evolve; a neural run is then distilled)
SEARCHES=(
  "hopper-mixed|v3-hopper-mixed|"
  "hopper-noisy|v3-hopper-noisy|"
  "hopper-mixed-seed1|v3-hopper-mixed|--search-seed 1"
  "multi-hopper|v3-multi-hopper|"
  "ta-hopper-mixed|v3-ta-hopper-mixed|"
  "neural-hopper-mixed|v3-hopper-mixed|--sft|evolve-neural"
  "token-hopper-mixed|v3-hopper-mixed|--grammar mirror_token"
  "halfcheetah-noisy|v3-halfcheetah-noisy|"
  "halfcheetah-mixed|v3-halfcheetah-mixed|"
)

describe() {
  "$PYTHON" - "$OUT" "$COST_HOPPER" "$COST_HALFCHEETAH" "${SEARCHES[@]}" <<'PY'
"""Per search: what it trains and what it costs (from its run's config.yaml once started, else from the preset),
and how far it got (its checkpoint)."""
import sys
from pathlib import Path

from symmpo.errors import SymmpoError
from symmpo.search.config import SearchConfig
from symmpo.search.rundir import RunDir

out, cost_hopper, cost_cheetah, *searches = sys.argv[1:]
total = 0.0
print(
    f"{'name':<19} {'preset':<40} {'bred':>5} {'+cma':>5} {'trainings':>9} {'core-h':>7} {'h@2 idle':>8} "
    f"{'h@0.7':>6}  progress"
)
for line in searches:
    name, preset, extra, *command = line.split("|")
    neural = bool(command and command[0] == "evolve-neural")
    if command and command[0]:
        extra = (extra + " " if extra else "") + f"({command[0]})"
    run = Path(out, name)
    if (run / "config.yaml").is_file():
        try:
            config = RunDir.open(run).read_config()
            payload = RunDir(run).read_checkpoint()
        except SymmpoError as err:
            print(f"{name:<19} unreadable run directory: {err}")
            continue
        if payload is None:
            progress = "started, no generation finished"
        elif payload["state"].get("final"):
            progress = "finished (re-scored)"
        else:
            progress = f"generation {payload['state']['generation']}/{config.generations}"
    else:
        config, progress = SearchConfig.from_preset(preset), "not started"
    bred = config.population * config.generations
    # a neural run's population is CMA-ES's own (no second CMA-ES on constants)
    cma = config.cmaes.popsize * config.generations if config.cmaes.enabled and not neural else 0
    per = len(config.tasks) * len(config.seeds)
    costs = [float(cost_cheetah if t.startswith("halfcheetah") else cost_hopper) for t in config.tasks]
    core_h = bred * sum(costs) / 3600  # trained were 0.91-1.11 x bred in earlier runs (README.md)
    total += core_h
    flags = f" {extra}" if extra else ""
    print(
        f"{name:<19} {preset + flags:<40} {bred:>5} {cma:>5} {per:>9} {core_h:>7.1f} {core_h / 2:>8.1f} "
        f"{core_h / 0.7:>6.1f}  {progress}"
    )
print(
    f"total: {total:.1f} core-hours of fitness: {total / 2:.1f} h on 2 idle cores, {total / 0.7:.1f} h at the 0.7 "
    "of a core the cost runs got beside bench-v3 (plus the re-scores: minutes each)"
)
print("columns: bred = population x generations; +cma = CMA-ES's most; trainings per candidate = tasks x seeds")
# part 5's baselines (run.sh baselines): one population of the whole grid per column and fitness seed
import json

sweep = Path("results/bench-v3-fit6/sweep.jsonl")
rows = [json.loads(x) for x in sweep.read_text().splitlines() if x.strip()] if sweep.is_file() else []
done = {(r["task"], r["seed"]) for r in rows}
for env in ("hopper", "halfcheetah"):
    n = sum(t.startswith(env + "-") for t, _ in done)
    print(f"baselines (results/bench-v3-fit6), {env}: {n} of 12 populations (2 columns x 6 fitness seeds) done")
PY
}

# Issue 19 asks >= 1,500 two-seed-equivalent evaluations per search: a finished symbolic search short of them
# (re-asked elites and duplicates train nothing, so 32 x 18 trains 480-518 candidates) gets one more generation,
# resumed, until it has them (prints the generations to ask for, or nothing)
MIN_EVALS=${MIN_EVALS:-1500}
short_of() {
  "$PYTHON" - "$1" "$MIN_EVALS" <<'PY'
import sys

from symmpo.search.across import read_run

run = read_run(sys.argv[1])
print(run.generations + 1 if run.finished and run.trainings / 2 < float(sys.argv[2]) else "")
PY
}

search() {  # name command preset extra...
  local name=$1 command=$2 preset=$3
  shift 3
  local dir="$OUT/$name" args
  if [[ -f "$dir/config.yaml" ]]; then
    args=(--resume "$dir")
  else
    args=(--preset "$preset" "$@" --out "$dir")
  fi
  echo "== $name: symmpo $command ${args[*]}  ($(date -u +%FT%TZ))" | tee -a "$OUT/$name.log"
  nice -n "$NICE" "$SYMMPO" "$command" "${args[@]}" --no-progress 2>&1 | tee -a "$OUT/$name.log"
  local more
  while [[ "$command" == evolve ]] && more=$(short_of "$dir") && [[ -n "$more" ]]; do
    echo "== $name: below $MIN_EVALS two-seed-equivalent evaluations; symmpo evolve --resume $dir --generations $more" \
      "($(date -u +%FT%TZ))" | tee -a "$OUT/$name.log"
    nice -n "$NICE" "$SYMMPO" evolve --resume "$dir" --generations "$more" --no-progress 2>&1 | tee -a "$OUT/$name.log"
  done
  if [[ "$command" == evolve-neural && ! -f "$dir/distill/distilled.yaml" ]]; then
    echo "== $name: symmpo distill $dir  ($(date -u +%FT%TZ))" | tee -a "$OUT/$name.log"
    nice -n "$NICE" "$SYMMPO" distill "$dir" 2>&1 | tee -a "$OUT/$name.log"
  fi
}

# Part 5's equal budget: the baselines tuned with the searches' fitness (datasets 0 and 3 x 3 training seeds, the
# table's grid), for `symmpo compare --tune --bench-dir results/bench-v3-fit6 --dataset-seeds 0 3`. Resumable.
# SETTINGS=noisy-0.2 runs one column only: two such processes (one per column, one core each) share the rows file
# safely (appends are locked) and a later plain `run.sh baselines` skips every population already stored.
# WORKERS=2 trains two populations at once. For the HalfCheetah searches (8, 9), before their verdict:
# ENVS=halfcheetah run.sh baselines (the same two settings, 12 more populations).
baselines() {
  echo "== baselines: $(date -u +%FT%TZ)" | tee -a "$OUT/baselines.log"
  nice -n "$NICE" "$SYMMPO" bench --suite v3 --sweep --seeds 6 --dataset-seeds 0 3 --envs ${ENVS:-hopper} \
    --settings ${SETTINGS:-mixed-0.5 noisy-0.2} --out results/bench-v3-fit6 --workers "$WORKERS" --no-progress \
    2>&1 | tee -a "$OUT/baselines.log"
}

# Part 5, the verdict: the top 3 by fitness of every finished Hopper search (the neural run: its distilled
# formula) against every baseline tuned at the searches' fitness (run `baselines` first), each file tuned the same
# way (--tune), 20 held-out seeds, on both Hopper target columns and their Walker2d transfer columns, Holm over
# the whole comparison. Resumable (compare.jsonl / tune.jsonl). Files of runs not finished yet are left out.
runs() {  # every started search side by side (symmpo runs): runs.md, runs.png
  local dirs=() line name
  for line in "${SEARCHES[@]}"; do
    name=${line%%|*}
    [[ -f "$OUT/$name/checkpoint.json" ]] && dirs+=("$OUT/$name")
  done
  "$SYMMPO" runs "${dirs[@]}" --out "$OUT"
}

finished() {  # true when the run directory holds a finished (re-scored) search
  [[ -f "$1/checkpoint.json" ]] && "$PYTHON" - "$1" <<'PY'
import sys

from symmpo.search.across import read_run

run = read_run(sys.argv[1])
sys.exit(0 if run.finished and run.done >= run.generations else 1)
PY
}

verdict_files() {  # LABEL=FILE of every finished search's top 3 (the neural run: its distilled formula and the
  # network it was distilled from, so the table shows what distillation costs)
  local name k f
  for name in hopper-mixed hopper-noisy hopper-mixed-seed1 multi-hopper ta-hopper-mixed token-hopper-mixed; do
    finished "$OUT/$name" || continue  # a running (or extended) search's leaders may still change
    for k in 1 2 3; do
      f="$OUT/$name/objectives/hof_0$k.yaml"
      [[ -f "$f" ]] && echo "$name-$k=$f"
    done
  done
  f="$OUT/neural-hopper-mixed/distill/distilled.yaml"
  if [[ -f "$f" ]]; then
    echo "neural-hopper-mixed=$f"
    echo "neural-hopper-mixed-net=$OUT/neural-hopper-mixed/neural/hof_01.yaml"
  fi
}

verdict_in() {  # BENCH_DIR OUT_DIR LOG [compare options]: the verdict against the sweep in BENCH_DIR
  local bench=$1 out=$2 log=$3 files=()
  shift 3
  mapfile -t files < <(verdict_files)
  if ((${#files[@]} == 0)); then
    echo "no finished search yet: nothing to compare" >&2
    exit 1
  fi
  echo "== verdict ($out): ${#files[@]} files ($(date -u +%FT%TZ))" | tee -a "$log"
  nice -n "$NICE" "$SYMMPO" compare --tune --bench-dir "$bench" --dataset-seeds 0 3 \
    --tasks hopper-mixed-0.5@v3 hopper-noisy-0.2@v3 walker2d-mixed-0.5@v3 walker2d-noisy-0.2@v3 \
    --out "$out" --workers "$WORKERS" --no-progress "${files[@]}" "$@" 2>&1 | tee -a "$log"
}

verdict() { verdict_in results/bench-v3-fit6 "$OUT/verdict" "$OUT/verdict.log"; }

# The anchor control of the verdict. The winners carry an NLL weight their search tuned on the fitness data; the
# baselines' grid leaves RPO's and CPO's (rpo_alpha, cpo_alpha) at 1. Here the same sweep also moves that weight
# to 0.1, 0.3 and 3 x (`bench --sweep --anchor-factors`), then the same verdict is judged against it, in
# results/bench-v3-fit6-anchor/ and verdict-anchor/. Rows already trained are copied in, not retrained: the plain
# sweep's rows are the wider grid's at weight 1 (same labels, members, seeds and data), and the verdict's rows
# are reused for every member whose hyperparameters did not move (rows are keyed by them; the report reads a
# baseline at its current choice only). Every file is also tested against RPO at its new choice (`--references dpo
# rpo`, in the same Holm family). Resumable; re-run after `verdict` to bring in new searches' rows.
anchor() {
  local bench=results/bench-v3-fit6-anchor dir=$OUT/verdict-anchor
  mkdir -p "$bench" "$dir"
  merge_rows results/bench-v3-fit6/sweep.jsonl "$bench/sweep.jsonl"
  echo "== anchor sweep: $(date -u +%FT%TZ)" | tee -a "$OUT/anchor.log"
  nice -n "$NICE" "$SYMMPO" bench --suite v3 --sweep --seeds 6 --dataset-seeds 0 3 --envs hopper \
    --settings mixed-0.5 noisy-0.2 --anchor-factors 0.1 0.3 1 3 --out "$bench" --workers "$WORKERS" \
    --no-progress 2>&1 | tee -a "$OUT/anchor.log"
  merge_rows "$OUT/verdict/tune.jsonl" "$dir/tune.jsonl"
  merge_rows "$OUT/verdict/compare.jsonl" "$dir/compare.jsonl"
  # RPO (DPO + NLL) at its tuned weight is also a reference: is a winner more than an NLL weight tuned?
  verdict_in "$bench" "$dir" "$OUT/anchor.log" --references dpo rpo
  # the reports are written: keep only the rows these two folders trained themselves (the copies are megabytes
  # already in git; the next `run.sh anchor` copies them in again, trains nothing new and rewrites the reports)
  merge_rows results/bench-v3-fit6/sweep.jsonl "$bench/sweep.jsonl" --drop
  merge_rows "$OUT/verdict/tune.jsonl" "$dir/tune.jsonl" --drop
  merge_rows "$OUT/verdict/compare.jsonl" "$dir/compare.jsonl" --drop
}

merge_rows() {  # SRC DST [--drop]: append to DST the rows of SRC it lacks (rows are keyed, order is free);
  # with --drop, remove from DST the rows SRC holds
  "$PYTHON" - "$@" <<'PY'
import sys
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
theirs = [line for line in src.read_text().splitlines() if line.strip()]
ours = dst.read_text().splitlines() if dst.is_file() else []
if sys.argv[3:] == ["--drop"]:
    drop = set(theirs)
    kept = [line for line in ours if line not in drop]
    dst.write_text("".join(line + "\n" for line in kept))
    print(f"{dst}: {len(kept)} rows of its own kept, {len(ours) - len(kept)} copies of {src} dropped")
    sys.exit(0)
have = set(ours)
new = [line for line in theirs if line not in have]
with dst.open("a") as f:
    f.writelines(line + "\n" for line in new)
print(f"{len(new)} rows of {src} copied into {dst}")
PY
}

case "${1:-all}" in
  describe) describe; exit 0 ;;
  baselines) baselines; exit 0 ;;
  runs) runs; exit 0 ;;
  verdict) verdict; exit 0 ;;
  anchor) anchor; exit 0 ;;
  hopper) last=7 ;;
  all) last=${#SEARCHES[@]} ;;
  search)  # the named searches only, in the order given
    shift
    (($# > 0)) || { echo "usage: $0 search NAME [NAME ...]" >&2; exit 2; }
    for want in "$@"; do
      found=
      for line in "${SEARCHES[@]}"; do
        IFS='|' read -r name preset extra command <<<"$line"
        if [[ "$name" == "$want" ]]; then
          found=1
          # shellcheck disable=SC2086  # extra holds whole options
          search "$name" "${command:-evolve}" "$preset" $extra
        fi
      done
      [[ -n "$found" ]] || { echo "no search named '$want' (run.sh describe lists them)" >&2; exit 2; }
    done
    exit 0
    ;;
  *) echo "usage: $0 [all|hopper|search NAME...|describe|baselines|runs|verdict|anchor]" >&2; exit 2 ;;
esac
for ((i = 0; i < last; i++)); do
  IFS='|' read -r name preset extra command <<<"${SEARCHES[$i]}"
  # shellcheck disable=SC2086  # extra holds whole options
  search "$name" "${command:-evolve}" "$preset" $extra
done
