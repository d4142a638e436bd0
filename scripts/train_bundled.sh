#!/usr/bin/env bash
# Reproduces painterly's bundled fast styles (src/painterly/data/fast/): one network, the eight
# bundled paintings, trained from scratch on the photos gathered by scripts/gather_photos.py.
#
#   bash scripts/train_bundled.sh [WORK_DIR]      (default WORK_DIR: ./train-bundled)
#
# The run writes a checkpoint every 5 minutes; if it stops, run this script again and it
# resumes. The recipe (every setting, photo count, steps, seconds, device) is recorded in the
# result's config.json. Copy WORK_DIR/styles/{config.json,model.safetensors} into
# src/painterly/data/fast/ to ship them.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-train-bundled}"
painterly="${PAINTERLY:-.venv/bin/painterly}"

if [ ! -f "$work/photos/PHOTOS.csv" ]; then
    .venv/bin/python scripts/gather_photos.py "$work/photos"
fi
resume=()
if [ -f "$work/styles/checkpoint.pt" ]; then
    resume=(--resume)
fi
# Default settings of `painterly train` (see `painterly train --help`); the paintings in
# alphabetical order, so style i of the network is the i-th file.
"$painterly" train src/painterly/data/style/*.jpg --photos "$work/photos/train" \
    -o "$work/styles" "${resume[@]}"
