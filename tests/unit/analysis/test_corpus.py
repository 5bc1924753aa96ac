"""Corpus prediction files: one JSON per document, in the scorer's format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from tests.dicom_files import build

from sealroom.analysis.corpus import predict_corpus
from sealroom.analysis.models import AnalysisResult, Entity, PageImage


class FakeEngine:
    name = "fake"
    egress = "none"

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def analyze(self, pages: Sequence[PageImage]) -> AnalysisResult:
        self.sizes.extend(p.image.size for p in pages)
        entity = Entity("SSN", "536-22-1234", 0, (1, 2, 3, 4), 0.9)
        return AnalysisResult("fake", "other", 0.5, entities=[entity])


def test_predict_corpus_writes_one_file_per_document(tmp_path: Path) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    corpus.mkdir()
    Image.new("RGB", (40, 30), "white").save(corpus / "d1.p0.png")
    (corpus / "d1.truth.json").write_text(
        json.dumps({"doc_id": "d1", "pages": [{"page": 0, "width": 40, "height": 30, "file": "d1.p0.png"}]})
    )
    (corpus / "d2.dcm").write_bytes(build(rows=64, columns=96, frames=[[]]).data)
    (corpus / "d2.truth.json").write_text(
        json.dumps({"doc_id": "d2", "pages": [{"page": 0, "width": 96, "height": 64, "file": "d2.dcm"}]})
    )
    engine = FakeEngine()
    written = predict_corpus(corpus, out, engine)
    assert sorted(p.name for p in written) == ["d1.json", "d2.json"]
    found = {"type": "SSN", "text": "536-22-1234", "page": 0, "bbox": [1, 2, 3, 4]}
    assert json.loads((out / "d1.json").read_text()) == {"entities": [found]}
    dicom = json.loads((out / "d2.json").read_text())["entities"]
    assert found in dicom  # the frame went through the engine
    header = [e for e in dicom if e["bbox"] is None]
    assert all(e["page"] is None for e in header)
    assert {"type": "PERSON", "text": "QUINLAN^THADDEUS", "page": None, "bbox": None} in header
    assert {"type": "DATE_OF_BIRTH", "text": "19530214", "page": None, "bbox": None} in header
    assert not {e["type"] for e in header} & {"DICOM_UID", "DICOM_PRIVATE", "TIME"}
    assert engine.sizes == [(40, 30), (96, 64)]
