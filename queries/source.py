"""Where an answer reads its figures: chosen once per session, as SQLAlchemy chooses its bind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from queries.vocabulary import frozen

if TYPE_CHECKING:
    from queries.state import Rows

_SOURCE = "basebot_source"


def source(session: Session) -> Rows:
    """The raw rows, or on a replica its state rows (queries/state.py); kept in `session.info`."""
    chosen: Rows | None = session.info.get(_SOURCE)
    if chosen is None:
        # Imported here: both build on the query modules, which import this one.
        from queries.state import Rows, StateRows

        chosen = session.info[_SOURCE] = StateRows() if frozen(session) else Rows()
    return chosen
