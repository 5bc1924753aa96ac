"""Benchmark: Sealroom's offline engine vs Presidio's image redactor on the corpus dev set.

    python bench/engine_bench.py --out bench/.out/engine.md [--corpus /work/shared/corpus/dev]

Both engines run in their own subprocess (so peak memory, ``ru_maxrss``, is each engine's own)
over the same non-DICOM pages. Each worker loads its models first (timed apart), then times every
document; seconds per page is the document's time over its page count. Predictions are scored
with the corpus ``score.py`` (``--json``) against the non-DICOM truth files.

The baseline needs ``presidio-image-redactor``, ``pytesseract`` and Debian's ``tesseract-ocr``,
installed for the benchmark only (not project dependencies). No spaCy NER model is installed
(the workspace is offline), so the baseline runs Presidio's predefined recognisers with a
model-free NLP engine: its PERSON/LOCATION recall is what pattern recognisers alone give.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_report import cpu_model

DEFAULT_CORPUS = Path(os.environ.get("SEALROOM_CORPUS", "/work/shared/corpus/dev"))
NON_TEXT_TYPES = {"FACE", "SIGNATURE", "BARCODE"}
PRESIDIO_TYPES = {
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "US_SSN": "SSN",
    "IBAN_CODE": "IBAN",
    "DATE_TIME": "DATE",
    "US_BANK_NUMBER": "BANK_ACCOUNT",
    "US_DRIVER_LICENSE": "ID_NUMBER",
    "LOCATION": "ADDRESS",
    "MEDICAL_LICENSE": "ID_NUMBER",
    "US_ITIN": "SSN",
    "US_PASSPORT": "ID_NUMBER",
}


# --- workers (run in a subprocess) -------------------------------------------------------------


def _documents(corpus: Path) -> list[tuple[str, list[Any]]]:
    from sealroom.analysis.corpus import _load_pages

    docs = []
    for truth_path in sorted(corpus.glob("*.truth.json")):
        truth = json.loads(truth_path.read_text("utf-8"))
        pages = _load_pages(corpus, truth)
        if pages:
            docs.append((str(truth["doc_id"]), pages))
    return docs


def _local_runner() -> Any:
    from sealroom.analysis.local.engine import LocalEngine

    engine = LocalEngine()

    def run(pages: list[Any]) -> list[dict[str, Any]]:
        result = engine.analyze(pages)
        return [
            {"type": e.type, "text": e.text, "page": e.page, "bbox": list(e.bbox) if e.bbox else None}
            for e in result.entities
        ]

    return run


def _presidio_runner() -> Any:
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_image_redactor import ImageAnalyzerEngine, TesseractOCR

    from sealroom.analysis.local.nlp import BlankNlpEngine

    # Presidio's e-mail/URL recognisers call tldextract, which would fetch the suffix list.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    tldextract.extract = offline  # type: ignore[assignment]
    tldextract.tldextract.extract = offline  # type: ignore[assignment]
    nlp = BlankNlpEngine()
    nlp.load()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
    engine = ImageAnalyzerEngine(analyzer_engine=analyzer, ocr=TesseractOCR())

    def run(pages: list[Any]) -> list[dict[str, Any]]:
        out = []
        for page in pages:
            for r in engine.analyze(page.image, language="en"):
                out.append(
                    {
                        "type": PRESIDIO_TYPES.get(r.entity_type, r.entity_type),
                        "text": "",
                        "page": page.index,
                        "bbox": [int(r.left), int(r.top), int(r.left + r.width), int(r.top + r.height)],
                    }
                )
        return out

    return run


def worker(kind: str, corpus: Path, pred_dir: Path, stats_path: Path) -> None:
    from PIL import Image

    from sealroom.analysis.models import PageImage

    t0 = time.perf_counter()
    run = _local_runner() if kind == "local" else _presidio_runner()
    run([PageImage(0, Image.new("RGB", (200, 60), "white"))])  # load models
    load_s = time.perf_counter() - t0
    pred_dir.mkdir(parents=True, exist_ok=True)
    per_page: list[float] = []
    for doc_id, pages in _documents(corpus):
        t = time.perf_counter()
        entities = run(pages)
        elapsed = time.perf_counter() - t
        per_page.extend([elapsed / len(pages)] * len(pages))
        (pred_dir / f"{doc_id}.json").write_text(json.dumps({"entities": entities}), "utf-8")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats_path.write_text(json.dumps({"load_s": load_s, "per_page": per_page, "peak_mib": peak_kib / 1024}))


# --- driver -------------------------------------------------------------------------------------


def _run_worker(kind: str, corpus: Path, work: Path, python: str = sys.executable) -> dict[str, Any] | None:
    pred, stats = work / f"pred_{kind}", work / f"stats_{kind}.json"
    cmd = [
        python,
        __file__,
        "--worker",
        kind,
        "--corpus",
        str(corpus),
        "--pred",
        str(pred),
        "--stats",
        str(stats),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"{kind} worker failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    data: dict[str, Any] = json.loads(stats.read_text())
    data["pred"] = pred
    return data


def _text_truth(corpus: Path, work: Path) -> Path:
    """A truth folder with the non-DICOM documents only (the engines' shared input)."""
    out = work / "truth"
    out.mkdir()
    for truth_path in corpus.glob("*.truth.json"):
        truth = json.loads(truth_path.read_text("utf-8"))
        if not any(str(p.get("file", "")).endswith(".dcm") for p in truth.get("pages", [])):
            shutil.copy(truth_path, out / truth_path.name)
    return out


def _score(scorer: Path, truth: Path, pred: Path, work: Path, name: str) -> dict[str, Any]:
    out = work / f"score_{name}.json"
    subprocess.run(
        [sys.executable, str(scorer), str(truth), str(pred), "--json", str(out)],
        check=True,
        capture_output=True,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _text_recall(score: dict[str, Any]) -> float:
    rows = [
        (v["n"], v["recall"]) for k, v in score["by_type"].items() if k not in NON_TEXT_TYPES and "@" not in k
    ]
    n = sum(r[0] for r in rows)
    return sum(a * b for a, b in rows) / n if n else 0.0


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def report(corpus: Path, results: dict[str, dict[str, Any] | None], scores: dict[str, dict[str, Any]]) -> str:
    names = {
        "local": "Sealroom local (RapidOCR + Presidio, Sealroom recognisers)",
        "presidio": "Presidio image redactor (Tesseract + predefined recognisers)",
    }
    lines = [
        "## Offline analysis engine",
        "",
        f"Measured {dt.date.today().isoformat()} on {cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; corpus `{corpus}` (non-DICOM documents, "
        f"{len(next(iter(r for r in results.values() if r), {}).get('per_page', []))} pages).",
        "",
        "| engine | s/page median | s/page p90 | pages/s | model load s | peak RSS MiB | text recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        if r is None:
            lines.append(f"| {names[kind]} | not run | | | | | |")
            continue
        med = statistics.median(r["per_page"])
        lines.append(
            f"| {names[kind]} | {med:.2f} | {_p90(r['per_page']):.2f} | {1 / med:.2f} | "
            f"{r['load_s']:.1f} | {r['peak_mib']:.0f} | {_text_recall(scores[kind]):.3f} |"
        )
    local, presidio = results.get("local"), results.get("presidio")
    if local and presidio:
        ratio = statistics.median(presidio["per_page"]) / statistics.median(local["per_page"])
        lines += ["", f"Pages/second ratio, Sealroom ÷ Presidio: **{ratio:.2f}×**."]
    kinds = [k for k in results if k in scores]
    lines += [
        "",
        "Per entity type: recall over truth entities of that type (found when predicted boxes cover"
        " ≥70% of it), and box precision over predicted boxes of that type (share touching a truth"
        " box); FACE, SIGNATURE and BARCODE are not text and are detected elsewhere.",
        "",
    ]
    lines.append("| type | n | " + " | ".join(f"{k} recall | {k} box_prec" for k in kinds) + " |")
    lines.append("|---|---|" + "---|---|" * len(kinds))
    all_types = sorted(
        {t for k in kinds for t in scores[k]["by_type"]}
        | {t for k in kinds for t in scores[k]["by_pred_type"]}
    )
    for t in all_types:
        n = next((scores[k]["by_type"][t]["n"] for k in kinds if t in scores[k]["by_type"]), 0)
        cells = []
        for k in kinds:
            rec = scores[k]["by_type"].get(t, {}).get("recall")
            prec = scores[k]["by_pred_type"].get(t, {}).get("box_prec")
            cells.append(f"{_fmt(rec)} | {_fmt(prec)}")
        lines.append(f"| {t} | {n} | " + " | ".join(cells) + " |")
    lines.append("")
    for k in kinds:
        ov = scores[k]["overall"]
        lines.append(
            f"* **{k}** overall: recall (pixel entities) {_fmt(ov['recall_pixels'])}, "
            f"box_prec {_fmt(ov['box_prec'])}, pixel_prec {_fmt(ov['pixel_prec'])}, "
            f"{ov['n_pred_boxes']} boxes."
        )
    lines += [
        "",
        "The Presidio baseline has no NER model (the workspace is offline), so it finds names only"
        " where a pattern recogniser does; its types are mapped to the corpus names.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the markdown section here")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--scorer", type=Path, help="the corpus score.py (default: next to the corpus folder)")
    ap.add_argument("--skip-presidio", action="store_true")
    ap.add_argument(
        "--baseline-python",
        default=sys.executable,
        help="interpreter with presidio-image-redactor installed (kept out of the project's environment)",
    )
    ap.add_argument("--worker", choices=["local", "presidio"], help=argparse.SUPPRESS)
    ap.add_argument("--pred", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.corpus, args.pred, args.stats)
        return
    if args.out is None:
        ap.error("--out is required")
    with tempfile.TemporaryDirectory(prefix="sealroom-bench-") as tmp:
        work = Path(tmp)
        truth = _text_truth(args.corpus, work)
        kinds = ["local"] if args.skip_presidio else ["local", "presidio"]
        pythons = {"local": sys.executable, "presidio": args.baseline_python}
        results = {k: _run_worker(k, args.corpus, work, pythons[k]) for k in kinds}
        scorer = args.scorer or args.corpus.parent / "score.py"
        scores = {k: _score(scorer, truth, r["pred"], work, k) for k, r in results.items() if r}
        text = report(args.corpus, results, scores)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, "utf-8")
    print(text)


if __name__ == "__main__":
    main()
