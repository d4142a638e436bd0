#!/usr/bin/env bash
# Reproduces painterly's bundled fast styles (src/painterly/data/fast/): one network, the eight
# bundled paintings, trained from scratch on the photos gathered by scripts/gather_photos.py.
#
#   bash scripts/train_bundled.sh [WORK_DIR]      (default WORK_DIR: ./train-bundled)
#
# Six phases, each resumable (a checkpoint every 5 minutes; run the script again after a stop):
#   1. 1357 steps from scratch at a constant learning rate, painterly train's default weights;
#   2. 800 more steps of the whole network with a 10x total-variation weight (20), half the
#      learning rate, falling to a tenth over the last half: the first phase's textures carry
#      a fine hatching that the stronger smoothness prior removes;
#   3. 8000 more steps with phase 2's weights and step size, falling to a tenth over the last
#      30%: the first two phases saw about a thousand crops per painting, too few for any
#      style to read as its painting;
#   4. 2000 more steps on 256 px crops with relu5_1 among the style layers (the five layers of
#      painterly's objective; the first phases left it out): relu5_1 made up 73% of the third
#      phase's style loss on the cat with Starry Night at 512 px, and is where the paintings'
#      large motifs live;
#   5. 2000 more steps on 384 px crops, two a batch, with the same layers: relu5_1 is still
#      most of the style loss, and on a 256 px crop it is only 16 x 16 responses, where the
#      pictures painted are 512 px and more;
#   6. 3000 more steps with phase 5's settings and the residual blocks dilated 2 (the same
#      weights, their taps spaced out): each output pixel now sees about 190 px of the photo
#      instead of about 110, more than a relu5_1 response's 156 px (phase 5 had left relu5_1's
#      term where it was).
# Every phase's settings, photo counts, steps, seconds and hardware are recorded in the
# result's config.json. Copy WORK_DIR/phase6/{config.json,model.safetensors} into
# src/painterly/data/fast/ to ship them.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-train-bundled}"
painterly="${PAINTERLY:-.venv/bin/painterly}"
paintings=(src/painterly/data/style/*.jpg)   # alphabetical: style i is the i-th file

if [ ! -f "$work/photos/PHOTOS.csv" ]; then
    .venv/bin/python scripts/gather_photos.py "$work/photos"
fi

resume_flag() { if [ -f "$1/checkpoint.pt" ]; then echo --resume; fi; }

if [ ! -f "$work/phase1/model.safetensors" ]; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase1" \
        --steps 1357 --decay 0 $(resume_flag "$work/phase1")
fi
if [ ! -f "$work/phase2/model.safetensors" ]; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase2" \
        --continue-from "$work/phase1" --steps 800 --tv-weight 20 --learning-rate 0.001 \
        --decay 0.5 $(resume_flag "$work/phase2")
fi
if [ ! -f "$work/phase3/model.safetensors" ]; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase3" \
        --continue-from "$work/phase2" --steps 8000 --tv-weight 20 --learning-rate 0.001 \
        --decay 0.3 $(resume_flag "$work/phase3")
fi
if [ ! -f "$work/phase4/model.safetensors" ]; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase4" \
        --continue-from "$work/phase3" --steps 2000 --crop-size 256 \
        --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 --tv-weight 20 \
        --learning-rate 0.001 --decay 0.3 $(resume_flag "$work/phase4")
fi
if [ ! -f "$work/phase5/model.safetensors" ]; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase5" \
        --continue-from "$work/phase4" --steps 2000 --crop-size 384 --batch-size 2 \
        --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 --tv-weight 20 \
        --learning-rate 0.001 --decay 0.3 $(resume_flag "$work/phase5")
fi
if [ ! -f "$work/phase6/model.safetensors" ]; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase6" \
        --continue-from "$work/phase5" --steps 3000 --crop-size 384 --batch-size 2 \
        --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 --tv-weight 20 \
        --learning-rate 0.001 --decay 0.3 --dilation 2 $(resume_flag "$work/phase6")
fi
echo "trained: $work/phase6"
