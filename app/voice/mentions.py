"""Colleagues a verbatim names (interim version: full display names only)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from app.extensions import db
from app.models import Team
from app.models import User


@dataclass
class Mentions:
    user_ids: list[int] = field(default_factory=list)
    team_ids: list[int] = field(default_factory=list)


@dataclass
class Matcher:
    people: dict[str, int]
    teams: dict[str, int]

    @classmethod
    def load(cls) -> Matcher:
        people = {
            name.lower(): user_id
            for user_id, name in db.session.execute(
                db.select(User.id, User.display_name).where(User.is_active_user.is_(True))
            )
        }
        teams = {name.lower(): team_id for team_id, name in db.session.execute(
            db.select(Team.id, Team.name))}
        return cls(people, teams)

    def find(self, text: str, team_id: int | None = None) -> Mentions:
        lowered = text.lower()
        return Mentions(
            sorted(i for name, i in self.people.items() if name and name in lowered),
            sorted(i for name, i in self.teams.items() if name and name in lowered),
        )
