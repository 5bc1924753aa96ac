"""Run an engine over a corpus folder and write its predictions in the corpus scoring format.

One ``<doc_id>.json`` per document: ``{"entities": [{"type", "text", "page", "bbox"}]}``. Page images
are read from the files the truth names; PDF pages are rendered at the truth's ``render_dpi``; DICOM
frames are decoded and windowed as at ingest (``vault.dicom``), and the header's PHI is written as
findings with ``"page": null, "bbox": null`` (the tag's raw value as ``text``). Types the corpus has no
name for (UIDs, times, private elements: ``NOT_IN_CORPUS``) are left out of its files; the product
still reports, masks and removes them.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from sealroom.analysis.dicom_phi import PRIVATE, with_header_phi
from sealroom.analysis.models import AnalysisEngine, PageImage
from sealroom.config import LimitSettings
from sealroom.vault.dicom import MEDIA_TYPE, decode_dicom

NOT_IN_CORPUS = frozenset({PRIVATE, "DICOM_UID", "TIME"})


def _load_pages(corpus_dir: Path, truth: dict[str, object]) -> tuple[list[PageImage], bytes | None]:
    """The document's pages, and the DICOM file's bytes when it is one."""
    pages: list[PageImage] = []
    dicom: bytes | None = None
    frames: list[Image.Image] = []
    page_specs = truth.get("pages") or []
    assert isinstance(page_specs, list)
    for spec in page_specs:
        path = corpus_dir / str(spec["file"])
        if path.suffix.lower() == ".dcm":
            if dicom is None:
                dicom = path.read_bytes()
                frames = decode_dicom(dicom, LimitSettings())
            pages.append(PageImage(int(spec["page"]), frames[int(spec.get("frame", spec["page"]))]))
            continue
        if path.suffix.lower() == ".pdf":
            import pypdfium2 as pdfium

            pdf = pdfium.PdfDocument(str(path))
            try:
                dpi = float(spec.get("render_dpi") or 150)
                page = pdf[int(spec.get("pdf_page", spec["page"]))]
                image = page.render(scale=dpi / 72).to_pil().convert("RGB")
            finally:
                pdf.close()
        else:
            with Image.open(path) as im:
                image = im.convert("RGB")
        pages.append(PageImage(int(spec["page"]), image))
    return pages, dicom


def predict_corpus(corpus_dir: Path, out_dir: Path, engine: AnalysisEngine) -> list[Path]:
    """Analyse every document of ``corpus_dir`` with ``engine``; write ``out_dir/<doc_id>.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for truth_path in sorted(corpus_dir.glob("*.truth.json")):
        truth = json.loads(truth_path.read_text("utf-8"))
        doc_id = str(truth["doc_id"])
        pages, dicom = _load_pages(corpus_dir, truth)
        entities: list[dict[str, object]] = []
        if pages:
            result = engine.analyze(pages)
            if dicom is not None:
                result = with_header_phi(result, MEDIA_TYPE, dicom, LimitSettings())
            entities = [  # an entity over several rows is scored by its row boxes, not their union
                {"type": e.type, "text": e.text, "page": e.page, "bbox": list(box) if box else None}
                for e in result.entities
                if e.type not in NOT_IN_CORPUS
                for box in (e.boxes if e.boxes else [e.bbox])
            ]
            for entity in entities:  # a header value has no place on a page
                if entity["bbox"] is None:
                    entity["page"] = None
        out = out_dir / f"{doc_id}.json"
        out.write_text(json.dumps({"entities": entities}, indent=1), "utf-8")
        written.append(out)
    return written
