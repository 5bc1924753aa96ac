"""One SDK client per transport: built on first use, rebuilt after a rejected credential.

Both transports keep their ``anthropic``/``openai`` client here. The credential is read when the
client is built, not at start-up (listing engines needs none); after ``auth_failed`` the client is
dropped so the next call reads the credential again, which lets an operator rotate a key without a
restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from pydantic import SecretStr

from sealroom.analysis.model.credentials import resolve_credential
from sealroom.analysis.model.transport import ModelCallError
from sealroom.analysis.model.wire import Exchange, Wire
from sealroom.config import EngineSettings


class _Closable(Protocol):
    def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_Closable)
ResultT = TypeVar("ResultT")


class SdkClient(Generic[ClientT]):
    """Holds the SDK client of one engine; ``build`` makes one from the resolved secret."""

    def __init__(
        self,
        engine_name: str,
        settings: EngineSettings,
        workspace_root: Path,
        build: Callable[[str | None], ClientT],
    ) -> None:
        self._engine_name = engine_name
        self._settings = settings
        self._root = workspace_root
        self._build = build
        self._lock = threading.Lock()
        self._client: ClientT | None = None
        self._secret: SecretStr | None = None

    def get(self) -> tuple[ClientT, str | None]:
        """The client and the secret it was built with (to scrub from error messages)."""
        with self._lock:
            if self._client is None:
                credential = resolve_credential(self._engine_name, self._settings, self._root)
                self._client = self._build(credential.value())
                self._secret = credential.secret
            return self._client, self._secret.get_secret_value() if self._secret else None

    def send(self, wire: Wire, call: Callable[[ClientT], ResultT]) -> tuple[ResultT, Exchange]:
        """Run ``call`` with the client through ``wire``; a rejected credential drops the client."""
        client, secret = self.get()
        try:
            return wire.send(lambda: call(client), redact=[secret] if secret else [])
        except ModelCallError as exc:
            if exc.reason == "auth_failed":
                self.drop()
            raise

    def drop(self) -> ClientT | None:
        """Forget the client (not closed here: another thread may still be using it)."""
        with self._lock:
            client, self._client, self._secret = self._client, None, None
        return client

    def close(self) -> None:
        """Drop the client and close its connections."""
        client = self.drop()
        if client is not None:
            client.close()
