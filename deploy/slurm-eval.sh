#!/bin/bash
# avfoil eval on Slurm: an array job runs the shards (task i runs shard i/N), and a dependent job
# merges them when all have finished.
#
#   deploy/slurm-eval.sh scenarios/audio-notebook.toml results/ 8
#
# Each shard writes results/shard-<i>/; the merged report lands in results/merged/report.html.
# A requeued or re-run task resumes where it stopped (--resume), redoing no finished work.
set -euo pipefail
scenario=${1:?usage: slurm-eval.sh SCENARIO.toml OUT_DIR [SHARDS]}
out=${2:?usage: slurm-eval.sh SCENARIO.toml OUT_DIR [SHARDS]}
shards=${3:-4}
avfoil=${AVFOIL:-avfoil}
mkdir -p "$out/logs"

array=$(sbatch --parsable \
    --job-name=avfoil-eval --array="0-$((shards - 1))" \
    --cpus-per-task=2 --mem=4G --time=24:00:00 --requeue \
    --output="$out/logs/shard-%a.log" \
    --wrap="$avfoil eval --quiet --resume --scenario '$scenario' \
        --shard \${SLURM_ARRAY_TASK_ID}/$shards --out '$out'/shard-\${SLURM_ARRAY_TASK_ID}")

dirs=$(for i in $(seq 0 $((shards - 1))); do printf "'%s/shard-%d' " "$out" "$i"; done)
sbatch --job-name=avfoil-merge --dependency="afterok:$array" \
    --cpus-per-task=1 --mem=1G --time=1:00:00 --output="$out/logs/merge.log" \
    --wrap="$avfoil eval merge --out '$out/merged' $dirs"
echo "submitted array job $array ($shards shards) and its merge"
