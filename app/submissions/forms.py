"""Story and quote forms, for authors and editors: they parse what the browser sent; the rules
live in `app.submissions.rules`.

Keeping validation in the rules module (not in WTForms validators) means the same messages apply
to every caller, and the form can show all of them at once. The forms only coerce types, carry
CSRF, and translate between form fields and rule inputs. The editor's edit page uses the same
forms and the same field macros (templates/submissions/_fields.html) as the author's pages.
"""

from __future__ import annotations

import re
from datetime import date

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from markupsafe import Markup
from wtforms import BooleanField
from wtforms import DateField
from wtforms import HiddenField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import Optional

from app.errors import ValidationError
from app.models import Quote
from app.models import QuoteSource
from app.models import Story
from app.models import User
from app.numbers import optional_int
from app.numbers import positive_int
from app.richtext import render_markdown
from app.submissions import queries
from app.submissions import rules
from app.submissions import uploads
from app.submissions.rules import NPS_MAX
from app.submissions.rules import NPS_MIN
from app.submissions.rules import QuoteInput
from app.submissions.rules import StoryInput
from app.submissions.rules import quote_input
from app.submissions.rules import split_names
from app.submissions.rules import split_tags
from app.submissions.rules import story_input
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


class SubmissionForm(FlaskForm):
    """What the story and quote forms share: the version they were opened at, and the errors
    going both ways (what only the form could see; what the rules said, on their fields)."""

    version = HiddenField()
    preview_field = ""  # the Markdown field the live preview renders

    def preview_html(self) -> Markup:
        """The no-JavaScript "Preview" button: the renderer the saved item gets."""
        return render_markdown(clean_text(self[self.preview_field].data, multiline=True))

    def seen_version(self) -> int:
        """The version the form was opened at; anything unreadable counts as stale."""
        try:
            return positive_int(self.version.data)
        except ValueError:
            return -1

    def read_errors(self) -> dict[str, str]:
        """The first problem of each field the form itself could not read (a date, CSRF)."""
        self.validate()
        return {name: messages[0] for name, messages in self.errors.items() if messages}

    def attach(self, errors: dict[str, str]) -> None:
        """Show errors on their fields; a field that already has one keeps just that."""
        for name, message in errors.items():
            field = self._fields.get(name)
            if field is None:
                self.form_errors.append(message)
            elif not field.errors:
                field.errors = [message]


class StoryForm(SubmissionForm):
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
    preview_field = "body"

    def setup(self, story: Story | None) -> StoryForm:
        self.team.choices = _choices(queries.team_choices(), "No particular team")
        keep = story.touchpoint_id if story else None
        self.touchpoint.choices = _choices(queries.touchpoint_choices(keep), "Choose one")
        return self

    def fill_from(self, story: Story) -> None:
        """Prefill an edit form (GET) from the stored story."""
        data = story_input(story)
        self.title.data = data.title
        self.body.data = data.body_md
        self.colleagues.data = ", ".join(r.user.email for r in story.recognitions if r.user)
        self.colleague_names.data = "\n".join(data.colleague_names)
        self.team.data = data.team_id
        self.touchpoint.data = data.touchpoint_id
        self.tags.data = ", ".join(data.tags)
        self.customer_name.data = data.customer_name
        self.customer_organization.data = data.customer_organization
        self.customer_consent.data = data.customer_consent
        self.customer_segment.data = data.customer_segment
        self.cover_image_alt.data = data.cover_image_alt
        self.version.data = str(story.version)

    def take_cover(self, user_id: int) -> tuple[str | None, ValidationError | None]:
        """(picture name, problem): a new upload is stored now, so a re-render keeps it;
        otherwise the pending one from the hidden field, unless the person asked to remove it."""
        upload = self.cover_image.data
        if upload is not None and getattr(upload, "filename", ""):
            try:
                name = uploads.store_cover_image(upload.stream)
            except ValidationError as error:
                self.cover_token.data = ""
                return None, error
            self.cover_token.data = uploads.sign_pending(name, user_id)
            return name, None
        if self.remove_cover.data:
            self.cover_token.data = ""
            return None, None
        return uploads.unsign_pending(self.cover_token.data or "", user_id), None

    def page_context(self, story: Story | None, cover: str | None) -> dict[str, object]:
        """What the story fields (templates/submissions/_fields.html) show besides the form."""
        return {
            "story": story,
            "pending_cover": cover,
            "selected_colleagues": self.selected_colleagues(),
            "popular_tags": queries.popular_tags(),
            "limits": rules,
        }

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
            name_links=self.name_links(),
        )
        return data, errors

    @staticmethod
    def name_links() -> dict[str, int]:
        """Free-text names an editor linked to an account: pairs of `link_name` (hidden) and
        `link_user` (the select next to each name on the editor's page; empty keeps the name)."""
        names = request.form.getlist("link_name")
        users = request.form.getlist("link_user")
        links: dict[str, int] = {}
        for name, raw in zip(names, users, strict=False):
            try:
                user_id = optional_int(raw)
            except ValueError:
                continue
            if user_id is not None:
                links[clean_text(name, name=True)] = user_id
        return links

    def link_candidates(self) -> list[tuple[str, list[User]]]:
        """Each free-text name in the field, with the active accounts it may be (for the
        editor's "is this …?" select): people whose name contains it, else its first word."""
        found = []
        for name in split_names(self.colleague_names.data):
            people = queries.search_colleagues(name) or queries.search_colleagues(name.split()[0])
            found.append((name, people))
        return found

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


class QuoteForm(SubmissionForm):
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
    preview_field = "text"

    def setup(self, user: User, quote: Quote | None) -> QuoteForm:
        keep = quote.story_id if quote else None
        self.story_id.choices = _choices(queries.linkable_stories(user, keep), "None")
        return self

    def page_context(self, quote: Quote | None, author: User) -> dict[str, object]:
        """What the quote fields show besides the form ("received on" stops at the author's
        today)."""
        return {"quote": quote, "limits": rules,
                "max_date": rules.latest_today(author).isoformat()}

    def fill_from(self, quote: Quote) -> None:
        data = quote_input(quote)
        self.text.data = data.text
        self.customer_name.data = data.customer_name
        self.customer_role.data = data.customer_role
        self.customer_organization.data = data.customer_organization
        self.anonymous.data = data.anonymous
        self.customer_consent.data = data.customer_consent
        self.source.data = quote.source.value
        self.nps_score.data = data.nps_score
        self.received_on.data = data.received_on
        self.story_id.data = data.story_id
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


class SubmitForm(SubmissionForm):
    """The "Submit for review" button on an item's own page: the CSRF token and the version
    the page showed (a change made since, in another tab, is a conflict, not a surprise)."""
