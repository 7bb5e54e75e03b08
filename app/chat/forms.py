"""Forms of the chat admin pages (CSRF on every POST)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import RadioField
from wtforms import SelectField
from wtforms import StringField
from wtforms import SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from app.chat.providers import PROVIDERS
from app.numbers import optional_int

EVERY_TEAM = ""


def _team(value: object) -> int | None:
    """"" is every team; a value that is not a usable number is "Not a valid choice"."""
    return optional_int(value)


class DestinationForm(FlaskForm):
    name = StringField(
        "Name",
        description="Shown to admins only, e.g. after the channel: “#kudos (Slack)”.",
    )
    kind = RadioField(
        "Where",
        choices=[SelectChoice(p.kind, p.label) for p in PROVIDERS.values()],
        default="slack",
        validators=[InputRequired("Choose Slack or Microsoft Teams.")],
    )
    webhook_url = StringField("Webhook URL")
    on_edition_sent = BooleanField("Edition sent: subject, intro, the first stories and a link",
                                   default=True)
    on_colleague_featured = BooleanField("Shout-outs: each colleague featured in a story")
    on_story_published = BooleanField("New story published: each story as it goes out")
    team = SelectField("Team", coerce=_team, validate_choice=False)
    active = BooleanField("Active: post to this destination", default=True)
    submit = SubmitField("Save")

    def set_teams(self, teams: list[tuple[int, str]]) -> None:
        self.team.choices = [SelectChoice(EVERY_TEAM, "Every team"),
                             *(SelectChoice(team_id, name) for team_id, name in teams)]


class ConfirmForm(FlaskForm):
    """A POST that needs only its CSRF token (test post, retry, delete)."""

    submit = SubmitField("Confirm")
