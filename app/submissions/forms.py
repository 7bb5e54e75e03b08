"""Story and quote forms: they parse what the browser sent; the rules live in services.

Keeping validation in `services` (not in WTForms validators) means the same messages apply to
every caller, and the form can show all of them at once (`services.story_errors`). The forms
only coerce types, carry CSRF, and translate between form fields and service inputs.
"""

from __future__ import annotations

import re
from datetime import date

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from app.models import Quote, QuoteSource, Story, User
from app.numbers import optional_int
from app.submissions import queries
from app.submissions.services import (
    NPS_MAX,
    NPS_MIN,
    QuoteInput,
    StoryInput,
    split_names,
    split_tags,
)
from app.text import clean_text

_EMAIL_SPLIT_RE = re.compile(r"[\s,;]+")


def _choices(rows: list[tuple[object, str]], empty: str) -> list[SelectChoice]:
    """An "empty" first option, then (value, label) rows."""
    return [SelectChoice("", empty), *(SelectChoice(value, label) for value, label in rows)]


class FriendlyDateField(DateField):
    """A date input whose parse error says what to do."""

    def process_formdata(self, valuelist: list) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError("Enter the date as day, month and year.") from None


class StoryForm(FlaskForm):
    title = StringField("Title")
    body = TextAreaField("The story")
    colleagues = StringField("Colleagues with an account", validators=[Optional()])
    colleague_names = TextAreaField("Colleagues without an account", validators=[Optional()])
    team = SelectField("Team", coerce=optional_int, validators=[Optional()])
    touchpoint = SelectField(
        "Where did the customer meet us?", coerce=optional_int, validators=[Optional()]
    )
    tags = StringField("Tags", validators=[Optional()])
    customer_name = StringField("Customer's name", validators=[Optional()])
    customer_organization = StringField("Organization", validators=[Optional()])
    customer_consent = BooleanField("The customer agreed to be named internally")
    customer_segment = StringField(
        "Describe the customer without naming them", validators=[Optional()]
    )
    cover_image = FileField("Cover picture", validators=[Optional()])
    cover_image_alt = StringField("Describe the picture", validators=[Optional()])
    remove_cover = BooleanField("Remove the picture")
    cover_token = HiddenField()
    version = HiddenField()

    def setup(self, story: Story | None) -> StoryForm:
        self.team.choices = _choices(queries.team_choices(), "No particular team")
        keep = story.touchpoint_id if story else None
        self.touchpoint.choices = _choices(queries.touchpoint_choices(keep), "Choose one")
        return self

    def fill_from(self, story: Story) -> None:
        """Prefill an edit form (GET) from the stored story."""
        self.title.data = story.title
        self.body.data = story.body_md
        self.colleagues.data = ", ".join(r.user.email for r in story.recognitions if r.user)
        self.colleague_names.data = "\n".join(r.name for r in story.recognitions if r.name)
        self.team.data = story.team_id
        self.touchpoint.data = story.touchpoint_id
        self.tags.data = ", ".join(t.name for t in story.tags)
        self.customer_name.data = story.customer_name or ""
        self.customer_organization.data = story.customer_organization or ""
        self.customer_consent.data = story.customer_consent
        self.customer_segment.data = story.customer_segment or ""
        self.cover_image_alt.data = story.cover_image_alt or ""
        self.version.data = str(story.version)

    def colleague_emails(self) -> list[str]:
        raw = clean_text(self.colleagues.data)  # no control characters reach the database
        return [e for e in _EMAIL_SPLIT_RE.split(raw) if e]

    def to_input(self, cover_image: str | None) -> tuple[StoryInput, dict[str, str]]:
        """The service input, plus errors only the form can detect (unknown emails)."""
        errors: dict[str, str] = {}
        emails = self.colleague_emails()
        found = queries.users_by_email(emails)
        unknown = [e for e in emails if User.normalize_email(e) not in found]
        if unknown:
            listed = ", ".join(unknown[:3]) + ("…" if len(unknown) > 3 else "")
            errors["colleagues"] = (
                f"We couldn't find an account for {listed}. Check the spelling, or add the "
                "person under “Colleagues without an account”."
            )
        ids = [user.id for e in emails if (user := found.get(User.normalize_email(e)))]
        data = StoryInput(
            title=self.title.data or "",
            body_md=self.body.data or "",
            colleague_ids=ids,
            colleague_names=split_names(self.colleague_names.data),
            team_id=self.team.data,
            touchpoint_id=self.touchpoint.data,
            tags=split_tags(self.tags.data),
            customer_name=self.customer_name.data or "",
            customer_organization=self.customer_organization.data or "",
            customer_segment=self.customer_segment.data or "",
            customer_consent=bool(self.customer_consent.data),
            cover_image=cover_image,
            remove_cover=bool(self.remove_cover.data),
            cover_image_alt=self.cover_image_alt.data or "",
        )
        return data, errors

    def selected_colleagues(self) -> list[dict[str, object]]:
        """The colleagues currently in the field, for the picker's chips (JSON-safe)."""
        emails = self.colleague_emails()
        found = queries.users_by_email(emails)
        people: list[dict[str, object]] = []
        for email in emails:
            user = found.get(User.normalize_email(email))
            if user is None:
                people.append({"id": None, "name": clean_text(email), "email": clean_text(email)})
            else:
                people.append({"id": user.id, "name": user.display_name, "email": user.email})
        return people


NPS_CHOICES = _choices([(n, str(n)) for n in range(NPS_MIN, NPS_MAX + 1)], "No score")


class QuoteForm(FlaskForm):
    text = TextAreaField("The quote")
    customer_name = StringField("Name", validators=[Optional()])
    customer_role = StringField("Role", validators=[Optional()])
    customer_organization = StringField("Organization", validators=[Optional()])
    anonymous = BooleanField("Keep the customer anonymous")
    customer_consent = BooleanField("The customer agreed to be quoted by name internally")
    source = RadioField(
        "Where did the quote come from?",
        choices=[SelectChoice(s.value, s.label) for s in QuoteSource],
        validate_choice=False,  # the service says "Choose where the quote came from."
    )
    nps_score = SelectField(
        "NPS score", choices=NPS_CHOICES, coerce=optional_int, validators=[Optional()]
    )
    received_on = FriendlyDateField("Date received")
    story_id = SelectField("Related story", coerce=optional_int, validators=[Optional()])
    version = HiddenField()

    def setup(self, user: User, quote: Quote | None) -> QuoteForm:
        keep = quote.story_id if quote else None
        self.story_id.choices = _choices(queries.linkable_stories(user, keep), "None")
        return self

    def fill_from(self, quote: Quote) -> None:
        self.text.data = quote.text
        self.customer_name.data = quote.customer_name or ""
        self.customer_role.data = quote.customer_role or ""
        self.customer_organization.data = quote.customer_organization or ""
        self.anonymous.data = quote.anonymous
        self.customer_consent.data = quote.customer_consent
        self.source.data = quote.source.value
        self.nps_score.data = quote.nps_score
        self.received_on.data = quote.received_on
        self.story_id.data = quote.story_id
        self.version.data = str(quote.version)

    def to_input(self) -> QuoteInput:
        received = self.received_on.data
        return QuoteInput(
            text=self.text.data or "",
            source=self.source.data or None,
            received_on=received if isinstance(received, date) else None,
            anonymous=bool(self.anonymous.data),
            customer_name=self.customer_name.data or "",
            customer_role=self.customer_role.data or "",
            customer_organization=self.customer_organization.data or "",
            customer_consent=bool(self.customer_consent.data),
            nps_score=self.nps_score.data,
            story_id=self.story_id.data,
        )


class ConfirmForm(FlaskForm):
    """Just the CSRF token, for the withdraw confirmation."""
