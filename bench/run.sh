#!/usr/bin/env bash
# `make bench`: run every benchmark and assemble docs/benchmarks.md (machine, date, figures, how to rerun).
# Presidio's image redactor and Tesseract are the comparison baseline; they are installed for the
# benchmark only and are not dependencies of Sealroom.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CORPUS=${SEALROOM_CORPUS:-../shared/corpus/dev}
OUT=bench/.out
mkdir -p "$OUT"
rm -f "$OUT"/*.md

if ! command -v tesseract >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq tesseract-ocr >/dev/null; else sudo apt-get install -y -qq tesseract-ocr >/dev/null; fi
fi
# The baseline gets its own environment: presidio-image-redactor pins an older OpenCV.
BASELINE=bench/.venv-baseline
if [ ! -x "$BASELINE/bin/python" ]; then
  python3 -m venv "$BASELINE"
  "$BASELINE/bin/pip" install --quiet -e . presidio-image-redactor pytesseract
fi

$BIN/python bench/engine_bench.py --corpus "$CORPUS" --out "$OUT/engine.md" --baseline-python "$BASELINE/bin/python"
$BIN/python bench/scan_quality_bench.py --corpus "$CORPUS" --out "$OUT/scan_quality.md"
# Detection on every document of the corpus (DICOM included), as `sealroom corpus predict` writes it.
rm -rf "$OUT/predictions"
$BIN/sealroom corpus predict "$CORPUS" "$OUT/predictions" >/dev/null
{
  echo "## Detection on the whole corpus (DICOM included)"
  echo
  echo "Every document of \`$CORPUS\` through \`sealroom corpus predict\`, scored by the corpus's \`score.py\`:"
  echo
  echo '```'
  $BIN/python "$CORPUS/../score.py" "$CORPUS" "$OUT/predictions"
  echo '```'
} > "$OUT/detection.md"
$BIN/python bench/overhead_bench.py --out "$OUT/overhead.md"
$BIN/python bench/audit_bench.py --out "$OUT/audit.md"
$BIN/python bench/audit_search_bench.py --out "$OUT/audit_search.md"
$BIN/python bench/egress_bench.py --out "$OUT/egress.md"

{
  echo "# Benchmarks"
  echo
  echo "Measured by \`make bench\` on $(date -u +%Y-%m-%d) — $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, Python $($BIN/python -c 'import platform; print(platform.python_version())')."
  echo "Rerun with \`make bench\` (corpus: \`\$SEALROOM_CORPUS\`, default \`../shared/corpus/dev\`)."
  echo
  echo "Targets: the offline engine at least 2× the pages/second of Presidio's image redactor with recall no lower;"
  echo "platform overhead at most 5 % of engine time; at least 5,000 durable audit appends/s on SQLite and"
  echo "300,000 verified records/s. Each section below states its figures against these."
  echo
  cat "$OUT/engine.md"; echo
  cat "$OUT/detection.md"; echo
  cat "$OUT/scan_quality.md"; echo
  cat "$OUT/overhead.md"; echo
  cat "$OUT/audit.md"; echo
  cat "$OUT/audit_search.md"; echo
  cat "$OUT/egress.md"
} > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
