"""The prompt policy's log in the history database (table ``policy_log``): every refusal and
warning with owner, time, door and rule id, listed for admins in Settings. The policy sees
it as its ``event_log`` (``record``, ``recent``); the SQL stays in history/."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from webui.history.schema import PolicyLogEntry
from webui.policy import PolicyEvent


class PolicyLog:
    """Write and list ``policy_log`` rows."""

    def __init__(self, engine):
        self.engine = engine

    def record(self, event: PolicyEvent) -> None:
        with Session(self.engine) as session:
            session.add(PolicyLogEntry(created_at=event.time, owner=event.owner[:128],
                                       door=event.door[:32], action=event.action,
                                       rule_id=event.rule_id[:200], prompt=event.prompt))
            session.commit()

    def recent(self, limit: int = 200) -> list[PolicyEvent]:
        """The newest ``limit`` events, newest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(PolicyLogEntry).order_by(
                PolicyLogEntry.id.desc()).limit(limit)).all()
            return [PolicyEvent(r.owner, r.door, r.action, r.rule_id, r.prompt, r.created_at)
                    for r in rows]
