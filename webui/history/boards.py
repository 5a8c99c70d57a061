"""Boards: named collections of images, one owner's each; an image can be on several."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webui.history.schema import Board, BoardItem


class BoardError(ValueError):
    """A board operation that cannot be done; the message is shown to the user."""


class BoardsMixin:
    """Board methods of :class:`webui.history.store.HistoryStore`."""

    def _board_stmt(self, owner, is_admin):
        stmt = select(Board)
        if not is_admin:
            stmt = stmt.where(Board.owner == owner if owner is not None else Board.owner.is_(None))
        return stmt

    def boards(self, owner: str | None = None, is_admin: bool = True) -> list[tuple[Board, int]]:
        """``(board, image count)`` for each board ``owner`` may see, by name."""
        counts = (select(BoardItem.board_id, func.count().label("n"))
                  .group_by(BoardItem.board_id).subquery())
        stmt = (self._board_stmt(owner, is_admin).add_columns(func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.board_id == Board.id).order_by(Board.name, Board.id))
        with Session(self.engine, expire_on_commit=False) as session:
            return [(b, n) for b, n in session.execute(stmt).all()]

    def create_board(self, name: str, owner: str | None = None) -> Board:
        """A new empty board; a blank or duplicate name raises :class:`BoardError`."""
        name = (name or "").strip()
        if not name:
            raise BoardError("a board needs a name")
        if len(name) > 200:
            raise BoardError("board names are at most 200 characters")
        board = Board(name=name, owner=owner)
        try:
            with self._sessions.begin() as session:
                # the unique constraint does not cover owner NULL (NULLs differ in SQL)
                if session.scalars(self._board_stmt(owner, False).where(Board.name == name)
                                   ).first() is not None:
                    raise IntegrityError("duplicate board", None, ValueError(name))
                session.add(board)
        except IntegrityError:
            raise BoardError(f"there is already a board named {name!r}") from None
        return board

    def _own_board(self, session, board_id, owner, is_admin) -> Board:
        board = session.scalars(self._board_stmt(owner, is_admin)
                                .where(Board.id == int(board_id))).first()
        if board is None:
            raise BoardError("no such board")
        return board

    def delete_board(self, board_id: int, owner: str | None = None,
                     is_admin: bool = True) -> None:
        """Remove a board; its images stay in the history."""
        with self._sessions.begin() as session:
            session.delete(self._own_board(session, board_id, owner, is_admin))

    def add_to_board(self, board_id: int, ids, owner: str | None = None,
                     is_admin: bool = True) -> int:
        """Put images on a board (already there is fine); returns how many were added."""
        with self._sessions.begin() as session:
            board = self._own_board(session, board_id, owner, is_admin)
            mine = self._owned_ids(session, ids, owner, is_admin)
            if not mine:
                return 0
            there = set(session.scalars(select(BoardItem.generation_id).where(
                BoardItem.board_id == board.id, BoardItem.generation_id.in_(mine))))
            new = [i for i in mine if i not in there]
            session.add_all(BoardItem(board_id=board.id, generation_id=i) for i in new)
            return len(new)

    def remove_from_board(self, board_id: int, ids, owner: str | None = None,
                          is_admin: bool = True) -> int:
        """Take images off a board (they stay in the history); returns how many."""
        with self._sessions.begin() as session:
            board = self._own_board(session, board_id, owner, is_admin)
            result = session.execute(delete(BoardItem).where(
                BoardItem.board_id == board.id,
                BoardItem.generation_id.in_([int(i) for i in ids])))
            return result.rowcount or 0

    def boards_of(self, record_id: int) -> list[str]:
        """Names of the boards an image is on."""
        stmt = (select(Board.name).join(BoardItem, BoardItem.board_id == Board.id)
                .where(BoardItem.generation_id == int(record_id)).order_by(Board.name))
        with Session(self.engine) as session:
            return list(session.scalars(stmt))
