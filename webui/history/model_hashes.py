"""Model hashes kept in the history database (table ``model_hashes``), so a checkpoint is
hashed once and the hash survives restarts and is shared by every instance using the same
database. The registry sees only its ``HashCache`` interface; the SQL stays in history/."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from webui.history.schema import ModelHash
from webui.models.registry import HashCache


class DbHashCache(HashCache):
    """``HashCache`` backed by the ``model_hashes`` table (memory in front of it)."""

    def __init__(self, engine):
        super().__init__(None)
        self.engine = engine

    def peek(self, path: Path, kind: str) -> str | None:
        try:
            key = self._key(path, kind)
        except OSError:
            return None
        with self._lock:
            if key in self._data:
                return self._data[key]
        with Session(self.engine) as session:
            row = session.get(ModelHash, key)
        if row is None:
            return None
        with self._lock:
            self._data[key] = row.sha256
        return row.sha256

    def get(self, path: Path, kind: str, compute) -> str:
        key = self._key(path, kind)
        with self._lock:
            if key in self._data:
                return self._data[key]
        with Session(self.engine) as session:
            row = session.get(ModelHash, key)
            if row is not None:
                self._data[key] = row.sha256
                return row.sha256
        value = compute(path)
        with Session(self.engine) as session:
            if session.get(ModelHash, key) is None:
                session.add(ModelHash(key=key, sha256=value))
                session.commit()
        with self._lock:
            self._data[key] = value
        return value
