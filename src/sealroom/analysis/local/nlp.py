"""A model-free NLP engine for Presidio: spaCy's blank English tokenizer, no NER, no download.

Presidio normally loads a trained spaCy pipeline (``en_core_web_lg``) and may fetch it from the
network. Sealroom's recognisers need only tokens, so this engine tokenises with
``spacy.blank("en")`` and uses the lower-cased token as its lemma (enough for Presidio's context
enhancer to match context words).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine


class BlankNlpEngine(NlpEngine):
    """Tokenises with ``spacy.blank(lang)``; recognises no entities itself."""

    def __init__(self, languages: tuple[str, ...] = ("en",)) -> None:
        self._languages = languages
        self._nlp: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._nlp is None:
                import spacy

                self._nlp = {lang: spacy.blank(lang) for lang in self._languages}

    def is_loaded(self) -> bool:
        return self._nlp is not None

    def _pipeline(self, language: str) -> Any:
        if self._nlp is None:
            self.load()
        assert self._nlp is not None
        if language not in self._nlp:
            raise ValueError(f"language {language!r} is not loaded")
        return self._nlp[language]

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        doc = self._pipeline(language)(text)
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[tok.idx for tok in doc],
            lemmas=[tok.text.lower() for tok in doc],
            nlp_engine=self,
            language=language,
        )

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        **kwargs: Any,
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return bool(self._pipeline(language).vocab[word].is_stop)

    def is_punct(self, word: str, language: str) -> bool:
        return bool(self._pipeline(language).vocab[word].is_punct)

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return list(self._languages)
