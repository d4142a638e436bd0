#!/usr/bin/env bash
# Reproduces painterly's bundled fast styles (src/painterly/data/fast/): one network, the eight
# bundled paintings, trained from scratch on the photos gathered by scripts/gather_photos.py.
#
#   bash scripts/train_bundled.sh [WORK_DIR]      (default WORK_DIR: ./train-bundled)
#
# Ten phases, each resumable (a checkpoint every 5 minutes; run the script again after a stop):
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
#   7. for each painting alone, 800 more steps of phase 6's network with its settings, keeping
#      that painting's scale and shift alone: the eight styles compete for one small network,
#      and one style's own network lowers its held-out style loss by a fifth to a third where
#      every further shared phase moved it by 1% or less (docs/fast.md).
#   8. for the styles furthest from the optimiser after phase 7 (the Great Wave and Starry
#      Night, 3.0 to 3.7 times its style loss on the astronaut and the cameraman), 800 more
#      steps of the style's own network with the same settings: its training loss was still
#      falling at the end of phase 7.
#   9. for the Great Wave, still the furthest, 800 more steps of its own network with the same
#      settings and the learning rate rising over the first 50 (--warmup): without that, the
#      fresh optimiser's first step threw phase 8 off (its style loss 0.48 to 4.7 in one step).
#  10. for Mondrian, 800 more steps of its own network with phase 9's settings and a penalty on
#      the pattern that repeats every 4 px (--grid-weight 1000): its network drew a fine screen
#      on the lattice of its upsampling, 8.4 levels of 255 where the other styles drew 0.4 to 2.2.
#  11. for every style but the Great Wave and Mondrian, 400 more steps of the style's own
#      network with twice the style weight (20), half the learning rate and a 50-step warm-up,
#      on other random crops (--seed 11): the held-out style loss fell by 15 to 25%, where
#      each earlier 800-step phase at the same weight had taken off 5 to 6%, for a content
#      loss 6 to 11% higher (docs/fast.md).
# Every phase's settings, photo counts, steps, seconds and hardware are recorded in the
# result's config.json. `.venv/bin/python scripts/ship_styles.py WORK_DIR` puts phase 6 and
# each style's latest own network (phase 11, 10, 9, 8 or 7) into the package (src/painterly/data/fast/).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-train-bundled}"
painterly="${PAINTERLY:-.venv/bin/painterly}"
paintings=(src/painterly/data/style/*.jpg)   # alphabetical: style i is the i-th file

if [ ! -f "$work/photos/PHOTOS.csv" ]; then
    .venv/bin/python scripts/gather_photos.py "$work/photos"
fi

# Phase N runs unless it or a later phase has finished (phase 6 alone is enough for phase 7).
needed() {
    local n
    for n in $(seq "$1" 6); do [ -f "$work/phase$n/model.safetensors" ] && return 1; done
    return 0
}
resume_flag() { if [ -f "$1/checkpoint.pt" ]; then echo --resume; fi; }
# latest_own NAME N: NAME's own network from the latest of phases N down to 7 that trained it.
latest_own() {
    local n
    for n in $(seq "$2" -1 7); do
        [ -f "$work/phase$n/$1/model.safetensors" ] && { echo "$work/phase$n/$1"; return; }
    done
    echo "no own network for $1 in $work/phase7 to phase$2" >&2
    return 1
}
# own_phase PAINTING OUT FROM [OPTION...]: 800 steps of one style's own network (phases 7 to 11),
# continued from FROM with phase 6's settings; an OPTION given again overrides them.
own_phase() {
    "$painterly" train "$1" --photos "$work/photos/train" -o "$2" --continue-from "$3" \
        --steps 800 --crop-size 384 --batch-size 2 \
        --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 --tv-weight 20 \
        --learning-rate 0.001 --decay 0.3 --dilation 2 "${@:4}" $(resume_flag "$2")
}

if needed 1; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase1" \
        --steps 1357 --decay 0 $(resume_flag "$work/phase1")
fi
if needed 2; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase2" \
        --continue-from "$work/phase1" --steps 800 --tv-weight 20 --learning-rate 0.001 \
        --decay 0.5 $(resume_flag "$work/phase2")
fi
if needed 3; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase3" \
        --continue-from "$work/phase2" --steps 8000 --tv-weight 20 --learning-rate 0.001 \
        --decay 0.3 $(resume_flag "$work/phase3")
fi
if needed 4; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase4" \
        --continue-from "$work/phase3" --steps 2000 --crop-size 256 \
        --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 --tv-weight 20 \
        --learning-rate 0.001 --decay 0.3 $(resume_flag "$work/phase4")
fi
if needed 5; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase5" \
        --continue-from "$work/phase4" --steps 2000 --crop-size 384 --batch-size 2 \
        --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 --tv-weight 20 \
        --learning-rate 0.001 --decay 0.3 $(resume_flag "$work/phase5")
fi
if needed 6; then
    "$painterly" train "${paintings[@]}" --photos "$work/photos/train" -o "$work/phase6" \
        --continue-from "$work/phase5" --steps 3000 --crop-size 384 --batch-size 2 \
        --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 --tv-weight 20 \
        --learning-rate 0.001 --decay 0.3 --dilation 2 $(resume_flag "$work/phase6")
fi
for painting in "${paintings[@]}"; do
    name="$(basename "${painting%.*}")"
    out="$work/phase7/$name"
    if [ ! -f "$out/model.safetensors" ]; then
        own_phase "$painting" "$out" "$work/phase6"
    fi
done
for name in great_wave starry_night; do
    out="$work/phase8/$name"
    if [ ! -f "$out/model.safetensors" ]; then
        own_phase "src/painterly/data/style/$name.jpg" "$out" "$work/phase7/$name"
    fi
done
out="$work/phase9/great_wave"
if [ ! -f "$out/model.safetensors" ]; then
    own_phase src/painterly/data/style/great_wave.jpg "$out" "$work/phase8/great_wave" --warmup 50
fi
out="$work/phase10/mondrian_tableau_no2"
if [ ! -f "$out/model.safetensors" ]; then
    own_phase src/painterly/data/style/mondrian_tableau_no2.jpg "$out" "$work/phase7/mondrian_tableau_no2" \
        --warmup 50 --grid-weight 1000
fi
for name in cliff_walk_pourville composition_vii shipwreck starry_night the_scream woman_with_a_hat; do
    out="$work/phase11/$name"
    if [ ! -f "$out/model.safetensors" ]; then
        from="$(latest_own "$name" 10)"
        own_phase "src/painterly/data/style/$name.jpg" "$out" "$from" \
            --steps 400 --learning-rate 0.0005 --warmup 50 --style-weight 20 --seed 11
    fi
done
echo "trained: $work/phase6 (all eight styles), $work/phase7/* to $work/phase11/* (one style each)"
