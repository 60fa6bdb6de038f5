"""The ``node_health`` table: the recorder replaces one row per node, the web
journal reads them (the rows' values come from lpr_recorder.health_rows)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from lpr_recorder.health_rows import HealthRow
from lpr_recorder.journal import JournalError, NodeHealth


def write_rows(engine: Engine, rows: list[HealthRow]) -> None:
    """Insert or replace the rows of these nodes, in one transaction.
    JournalError when the database refuses (e.g. locked, or another recorder
    inserted the same node at the same moment): the caller tries again later."""
    if not rows:
        return
    try:
        with Session(engine) as s, s.begin():
            names = [r.node for r in rows]
            stored = {h.node: h for h in s.scalars(select(NodeHealth).where(NodeHealth.node.in_(names)))}
            for row in rows:
                target = stored.get(row.node)
                if target is None:
                    target = NodeHealth(node=row.node)
                    s.add(target)
                target.camera, target.level, target.message = row.camera, row.level, row.message
                target.figures, target.updated_at = dict(row.figures), row.updated_at
    except SQLAlchemyError as exc:
        message = str(getattr(exc, 'orig', None) or exc).splitlines()[0]
        raise JournalError(f'cannot write node health: {message}') from None


def read_rows(session: Session) -> list[HealthRow]:
    """Every node's row, by node name."""
    return [HealthRow(h.node, h.camera, h.level, h.message, dict(h.figures or {}), h.updated_at)
            for h in session.scalars(select(NodeHealth).order_by(NodeHealth.node))]
