#!/usr/bin/env bash
# The main job on real images: the most similar pairs, a search, and a side-by-side picture.
# Uses the offline EfficientNet-Lite0 unless LOOKALIKE_MODEL names another model, in fp32 so that
# every CPU prints the scores the README shows.
set -euo pipefail
data=${LOOKALIKE_DEMO_DIR:?set LOOKALIKE_DEMO_DIR to ../shared/data/samples}
model=${LOOKALIKE_MODEL:-efficientnet-lite0}
out=${LOOKALIKE_DEMO_OUT:-out}
bin=${LOOKALIKE_BIN:-.venv/bin/lookalike}
mkdir -p "$out"
if [ ! -d "$data" ]; then echo "demo: $data not found" >&2; exit 1; fi

echo "== the 3 most similar pairs in $data/Images ($model)"
"$bin" pairs "$data/Images" --model "$model" --precision fp32 --top 3
echo
echo "== the 3 images most like Query_Image.jpg"
"$bin" search "$data/Query_Image.jpg" "$data" --model "$model" --precision fp32 -k 3 --show "$out/search.png"
echo
echo "== Dog_2 vs Dog_3, side by side"
"$bin" compare "$data/Images/Dog_2.jpg" "$data/Images/Dog_3.jpg" --model "$model" --precision fp32 --show "$out/compare.png"
