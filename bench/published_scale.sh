#!/usr/bin/env bash
# The papers' full protocols, for a machine with an accelerator (hours on one GPU; weeks on a CPU).
#
#   bash bench/published_scale.sh                     # everything below
#   PARTS="end irene" bash bench/published_scale.sh   # a subset: end irene vanilla ctc ib
#   SOURCE=idx DATA_DIR=/path/to/mnist bash bench/published_scale.sh   # MNIST from IDX files, no tfds
#
# Biased-MNIST (EnD and IRENE papers): full MNIST (60k train), SimpleConvNet at full width, every rho, with
# the flagfiles of flags/ unchanged (EnD: Adam 1e-3, 80 epochs, StepLR; IRENE: SGD 0.1, 100 epochs) and the
# baselines as the papers define them (vanilla, and EnD's normalised vanilla). CTC: the seed's two CIFAR-100
# settings (300 epochs) and the transfer probe. IB: the DisenIB seed's MNIST commands.
# Finished runs are skipped (rerunning resumes interrupted ones from their checkpoints). When it ends,
# bench/published_scale.py writes the `published_scale` section of bench/RESULTS.md with the card's name.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-bench/out/published}"
SOURCE="${SOURCE:-tfds}"
PARTS="${PARTS:-vanilla end irene ctc ib}"
DATA_FLAGS=(--source="$SOURCE")
if [[ -n "${DATA_DIR:-}" ]]; then DATA_FLAGS+=(--data_dir="$DATA_DIR"); fi
RHOS=(0.99 0.995 0.997 0.999)

train() {  # train NAME FLAGFILE [extra flags...]
  local name="$1" flagfile="$2"; shift 2
  if [[ -f "$OUT/$name/results.json" ]]; then echo "[published_scale] $name: done, skipped"; return; fi
  echo "[published_scale] $name: $flagfile $*"
  "$PYTHON" -m invariant_reps.train --flagfile="$flagfile" --logdir="$OUT/$name" --verbose=2 "$@"
}

has() { [[ " $PARTS " == *" $1 "* ]]; }

for rho in "${RHOS[@]}"; do
  if has vanilla; then
    train "vanilla_rho$rho" flags/vanilla_biased_mnist.cfg --biased_mnist_rho="$rho" "${DATA_FLAGS[@]}"
    train "vanilla_normalized_rho$rho" flags/vanilla_biased_mnist_normalized.cfg --biased_mnist_rho="$rho" \
      "${DATA_FLAGS[@]}"
  fi
  if has end; then train "end_rho$rho" "flags/end_biased_mnist_rho$rho.cfg" "${DATA_FLAGS[@]}"; fi
  if has irene; then train "irene_rho$rho" "flags/irene_biased_mnist_rho$rho.cfg" "${DATA_FLAGS[@]}"; fi
done

if has ctc; then
  for setting in transfer discriminability; do
    train "ctc_cifar100_$setting" "flags/ctc_cifar100_$setting.cfg"
    if [[ ! -f "$OUT/ctc_cifar100_$setting/info/information_dynamics.csv" ]]; then
      "$PYTHON" -m invariant_reps.estimate_mi --run_dir="$OUT/ctc_cifar100_$setting" --dataset=cifar100 --transfer
    fi
  done
fi

if has ib; then
  for name in vib nib vib_squared nib_squared disenib; do
    train "${name}_mnist" "flags/${name}_mnist.cfg" "${DATA_FLAGS[@]}"
    if [[ ! -f "$OUT/${name}_mnist/evaluation.json" ]]; then
      "$PYTHON" -m invariant_reps.evaluate --run_dir="$OUT/${name}_mnist" || echo "[published_scale] evaluate $name failed"
    fi
  done
fi

"$PYTHON" bench/published_scale.py --out_dir="$OUT"
