#!/usr/bin/env bash
# Reproduces models/actions/ from scratch: renders the procedural action corpus in UCF101's layout
# (25 groups x 2 clips x 10 classes, H.264 MP4), trains c3d-lite on split 1's train list (groups
# 8-25) and evaluates on its test list (groups 1-7, unseen backdrops and actors), then trains the
# single-frame baseline of the model card on the same data. Same seed: same weights.
#
#     tools/train_actions.sh [OUT_DIR]        (default: target/actions-model)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/actions-model}"
cargo build --release --locked
./target/release/avfoil data actions --out target/actions --groups 25 --clips 2 --frames 48 \
    --format mp4 --seed 0
./target/release/avfoil train --arch c3d-lite --data target/actions --split 1 --frames 16 \
    --size 80x60 --stride 2 --jitter 8 --epochs 15 --seed 0 --out "$out"
./target/release/avfoil train --arch c3d-lite --data target/actions --split 1 --frames 1 \
    --size 80x60 --stride 2 --jitter 23 --epochs 60 --seed 0 --out "$out-single-frame"
