"""JSON API of accounts: for now, an admin ending someone's browser logins."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from librarylab.accounts import sessions as logins
from librarylab.accounts.service import get_user
from librarylab.deps import AdminUser, SessionDep

router = APIRouter(prefix="/api/users", tags=["users"])


class LoginsEnded(BaseModel):
    name: str
    ended: int = Field(description="How many browser logins of the account ended.")


@router.post("/{name}/logout")
def end_user_logins(name: str, session: SessionDep, _admin: AdminUser) -> LoginsEnded:
    """Log an account out of every browser (e.g. a lost phone); its API tokens stay valid."""
    user = get_user(session, name)
    ended = logins.end_logins(session, user, datetime.now(UTC))
    session.commit()
    return LoginsEnded(name=user.name, ended=ended)
