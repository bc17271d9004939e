#!/usr/bin/env bash
# Reproduces models/spoken-digits/ from scratch: generates the TTS stand-in corpus (Debian's
# espeak-ng, flite and festival must be installed; see .ci/run), then trains RawAudioCNN on FSDD's
# training indices plus the corpus's first 16 speakers, holding out FSDD's test indices and TTS
# speakers 17-20. About 20 minutes on 2 cores. Same seed, same engines: same weights.
#
#     tools/train_shipped.sh [OUT_DIR]        (default: target/spoken-digits)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/spoken-digits}"
cargo build --release --locked
./target/release/avfoil data spoken-digits --out target/tts20 --speakers 20 --repetitions 10 \
    --seed 0 --engines espeak-ng,flite,festival
./target/release/avfoil train --arch raw-audio-cnn --data ../shared/data/fsdd target/tts20 \
    --test-speakers 17,18,19,20 --epochs 12 --batch-size 32 --lr 1e-3 --max-shift 800 --gain-db 6 \
    --mp3-augment 0.5 --seed 0 --out "$out"
