"""The API's write side: submit stories and quotes, follow them, and review them.

Authors (`submit`) share as the token's person through the web form's services
(app.submissions.services: same rules, sanitization, audit, events and notifications); the
rules' field names are mapped to this API's JSON fields, so a broken rule is a 422 whose pointer
names the field the client sent. Curators (`curate`) read the review queue and decide through
app.review.services (same state machine, same notifications); a decision must say which version
it saw (`If-Match` with the item's ETag, or `version` in the body), the optimistic lock the
review pages use too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from typing import Any
from typing import Literal

from flask import url_for
from pydantic import AfterValidator
from pydantic import BeforeValidator
from pydantic import Field

from app.api import etag as etags
from app.api import queries
from app.api.auth import current
from app.api.auth import current_token
from app.api.pagination import Page
from app.api.pagination import PageQuery
from app.api.pagination import keyset
from app.api.routing import Created
from app.api.routing import operation
from app.api.schemas import In
from app.api.schemas import Out
from app.api.schemas import PersonRef
from app.api.schemas import TeamOut
from app.api.schemas import TouchpointOut
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db
from app.models import Quote
from app.models import QuoteSource
from app.models import Story
from app.models import SubmissionStatus
from app.numbers import INT_MAX
from app.review import services as review
from app.review.queries import get_item
from app.submissions import services
from app.submissions.queries import edition_for
from app.submissions.rules import BODY_MAX
from app.submissions.rules import MAX_COLLEAGUES
from app.submissions.rules import MAX_TAGS
from app.submissions.rules import NAME_MAX
from app.submissions.rules import NPS_MAX
from app.submissions.rules import NPS_MIN
from app.submissions.rules import QUOTE_MAX
from app.submissions.rules import TAG_MAX
from app.submissions.rules import TITLE_MAX
from app.submissions.rules import InvalidInput
from app.submissions.rules import QuoteInput
from app.submissions.rules import StoryInput
from app.submissions.rules import org_today
from app.titles import item_title
from app.tokens import scopes
from app.tokens.scopes import CURATE
from app.tokens.scopes import READ
from app.tokens.scopes import SUBMIT

S = SubmissionStatus
TAG = "Submissions"
REVIEW_TAG = "Review"
STRICT_ID = Annotated[int, Field(strict=True, ge=1, le=INT_MAX)]
# The rules' field names (the web form's) → this API's JSON fields.
STORY_FIELDS = {"colleagues": "colleague_ids", "team": "team_id", "touchpoint": "touchpoint_id"}
QUOTE_FIELDS: dict[str, str] = {}
NO_NUL = "Text may not contain NUL characters."


def _no_nul(value: str) -> str:
    """NUL cannot be stored by PostgreSQL; other control characters are cleaned by the rules."""
    if "\x00" in value:
        raise ValueError(NO_NUL)
    return value


def _json_date(value: Any) -> Any:
    """A date is "YYYY-MM-DD" text, never a number (pydantic would read one as a timestamp)."""
    if value is not None and not isinstance(value, str | date):
        raise ValueError("Give the date as text, YYYY-MM-DD.")
    return value


def _text(maximum: int, description: str, example: str) -> Any:
    """A required text field; its example is what the reference page's copy-paste request
    sends, so it must pass the rules (and hold no quote mark: curl's body is in '…')."""
    return Field(max_length=maximum, description=description, examples=[example])


Text = Annotated[str, AfterValidator(_no_nul)]


# -- bodies --------------------------------------------------------------------------------------


class StoryIn(In):
    """A story, as the "Share a story" form collects it (no cover picture through the API)."""

    title: Text = _text(TITLE_MAX, "3 to 150 characters.", "The parcel that came back in time")
    body: Text = _text(BODY_MAX, "Markdown, 20 to 20,000 characters; rendered and sanitized "
                                 "as on the web.",
                       "Mara found the lost parcel on Friday evening and drove it to the "
                       "customer herself, so the wedding dress arrived in time.")
    colleague_ids: list[STRICT_ID] = Field(
        default_factory=list, max_length=MAX_COLLEAGUES,
        description="Colleagues recognized, by person id (active accounts; see /people).")
    colleague_names: list[Annotated[Text, Field(max_length=NAME_MAX)]] = Field(
        default_factory=list, max_length=MAX_COLLEAGUES,
        description="Colleagues without an account, by name (up to 10 colleagues in all).")
    team_id: STRICT_ID | None = Field(
        None, description="The team (see /teams); omitted: the author's team, null: none.")
    touchpoint_id: STRICT_ID | None = Field(
        None, description="Where the customer met us (see /touchpoints).")
    tags: list[Annotated[Text, Field(max_length=TAG_MAX)]] = Field(
        default_factory=list, max_length=MAX_TAGS,
        description="Up to 10 tags, lower-cased; new ones are created.")
    customer_name: Text = Field("", max_length=NAME_MAX,
                                description="Shown only if the customer consented.")
    customer_organization: Text = Field("", max_length=NAME_MAX,
                                        description="Shown only if the customer consented.")
    customer_segment: Text = Field("", max_length=NAME_MAX,
                                   description="Describes the customer without naming them.")
    customer_consent: bool = Field(False, strict=True,
                                   description="The customer agreed to be named internally.")
    draft: bool = Field(False, strict=True,
                        description="Save as a draft (only you see it) instead of submitting.")

    def to_input(self, default_team_id: int | None) -> StoryInput:
        team_id = self.team_id if "team_id" in self.model_fields_set else default_team_id
        return StoryInput(
            title=self.title, body_md=self.body, colleague_ids=list(self.colleague_ids),
            colleague_names=list(self.colleague_names), team_id=team_id,
            touchpoint_id=self.touchpoint_id, tags=list(self.tags),
            customer_name=self.customer_name, customer_organization=self.customer_organization,
            customer_segment=self.customer_segment, customer_consent=self.customer_consent,
        )


class QuoteIn(In):
    """A customer quote, as the "Share a quote" form collects it."""

    text: Text = _text(QUOTE_MAX, "What the customer said, 5 to 2,000 characters (Markdown).",
                       "You made a stressful day so much easier. Thank you!")
    source: QuoteSource = Field(description="Where the quote came from.",
                                examples=[QuoteSource.EMAIL])
    received_on: Annotated[date | None, BeforeValidator(_json_date)] = Field(
        None, description="When it was received (YYYY-MM-DD, not in the future); default today.")
    anonymous: bool = Field(False, strict=True, description="Keep the customer anonymous.")
    customer_name: Text = Field("", max_length=NAME_MAX)
    customer_role: Text = Field("", max_length=NAME_MAX)
    customer_organization: Text = Field("", max_length=NAME_MAX)
    customer_consent: bool = Field(False, strict=True,
                                   description="The customer agreed to be quoted by name.")
    nps_score: int | None = Field(None, strict=True, ge=NPS_MIN, le=NPS_MAX)
    story_id: STRICT_ID | None = Field(
        None, description="A related story: one of yours or a published one.")
    draft: bool = Field(False, strict=True,
                        description="Save as a draft (only you see it) instead of submitting.")

    def to_input(self) -> QuoteInput:
        return QuoteInput(
            text=self.text, source=self.source,
            received_on=self.received_on if self.received_on is not None else org_today(),
            anonymous=self.anonymous, customer_name=self.customer_name,
            customer_role=self.customer_role, customer_organization=self.customer_organization,
            customer_consent=self.customer_consent, nps_score=self.nps_score,
            story_id=self.story_id,
        )


class Decision(In):
    version: int | None = Field(
        None, strict=True, ge=1, le=INT_MAX,
        description="The version you reviewed (instead of If-Match); a stale one is 409.")


class ApproveIn(Decision):
    """Approve: the item joins the upcoming edition (the draft one, created if needed)."""


class RequestChangesIn(Decision):
    note: Text = Field(max_length=review.NOTE_MAX, description="What the author should change.")


class RejectIn(Decision):
    reason: Text = Field(max_length=review.NOTE_MAX, description="Why; the author receives it.")


# -- representations -----------------------------------------------------------------------------


class EditionRefOut(Out):
    number: int
    sent: bool
    sent_at: datetime | None


class SubmissionColleagueOut(Out):
    """A recognized colleague: an account (`id`) or a name typed for someone without one."""

    id: int | None
    name: str



def version_tag(kind: str, item_id: int, version: int) -> str:
    """A submission's ETag (unquoted): its version, the optimistic lock the review checks."""
    return f"{kind}-{item_id}-v{version}"

class SubmissionBase(Out):
    id: int
    status: SubmissionStatus
    version: int = Field(description="The optimistic lock: send it back with a decision.")
    author: PersonRef
    team: TeamOut | None
    editor_note: str | None = Field(
        description="The editors' note (changes requested) or reason (rejected).")
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    published_at: datetime | None
    edition: EditionRefOut | None = Field(
        description="The sent edition it appeared in, else the one it is lined up for.")

    def etag_key(self) -> str:
        return version_tag(self.kind, self.id, self.version)  # type: ignore[attr-defined]

    @staticmethod
    def common(item: Story | Quote) -> dict[str, Any]:
        ref = edition_for(item)
        return {
            "id": item.id, "status": item.status, "version": item.version,
            "author": PersonRef.of(item.author),
            "team": TeamOut.of(item.team) if item.team is not None else None,
            "editor_note": item.editor_note, "created_at": item.created_at,
            "updated_at": item.updated_at, "submitted_at": item.submitted_at,
            "decided_at": item.decided_at, "published_at": item.published_at,
            "edition": EditionRefOut(number=ref.number, sent=ref.sent, sent_at=ref.sent_at)
            if ref is not None else None,
        }


class StorySubmissionOut(SubmissionBase):
    kind: Literal["story"] = "story"
    title: str
    body: str = Field(description="As written (Markdown).")
    body_html: str = Field(description="Rendered and sanitized.")
    colleagues: list[SubmissionColleagueOut]
    touchpoint: TouchpointOut | None
    tags: list[str]
    customer_name: str | None
    customer_organization: str | None
    customer_segment: str | None
    customer_consent: bool
    customer_display: str = Field(description="How readers see the customer named.")

    @classmethod
    def of(cls, story: Story) -> StorySubmissionOut:
        return cls(
            **cls.common(story), title=story.title, body=story.body_md,
            body_html=story.body_html,
            colleagues=[SubmissionColleagueOut(id=r.user_id, name=r.display_name)
                        for r in story.recognitions],
            touchpoint=TouchpointOut.of(story.touchpoint) if story.touchpoint else None,
            tags=[t.name for t in story.tags], customer_name=story.customer_name,
            customer_organization=story.customer_organization,
            customer_segment=story.customer_segment, customer_consent=story.customer_consent,
            customer_display=story.customer_display,
        )


class QuoteSubmissionOut(SubmissionBase):
    kind: Literal["quote"] = "quote"
    text: str
    text_html: str
    source: QuoteSource
    received_on: date
    nps_score: int | None
    anonymous: bool
    customer_name: str | None
    customer_role: str | None
    customer_organization: str | None
    customer_consent: bool
    attribution: str = Field(description="How readers see the customer named.")
    story_id: int | None

    @classmethod
    def of(cls, quote: Quote) -> QuoteSubmissionOut:
        return cls(
            **cls.common(quote), text=quote.text, text_html=quote.text_html,
            source=quote.source, received_on=quote.received_on, nps_score=quote.nps_score,
            anonymous=quote.anonymous, customer_name=quote.customer_name,
            customer_role=quote.customer_role,
            customer_organization=quote.customer_organization,
            customer_consent=quote.customer_consent, attribution=quote.attribution,
            story_id=quote.story_id,
        )


class MySubmissionOut(Out):
    """One of the token person's items, as "My submissions" lists it."""

    kind: Literal["story", "quote"]
    id: int
    status: SubmissionStatus
    version: int
    title: str = Field(description="The story's title, or the quote's opening words.")
    feedback: str | None = Field(
        description="The editors' note (changes requested) or reason (rejected).")
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    edition: EditionRefOut | None
    url: str = Field(description="The item's full representation in this API.")


# -- loading -------------------------------------------------------------------------------------


def _viewable(model: type[Story] | type[Quote], item_id: int) -> Story | Quote:
    """The author's own item (any status), or for a curating token anything ever submitted;
    others' items do not exist for anyone else (404, like the web)."""
    item = queries.submission(model, item_id)
    if item is not None and item.author_id == current().id:
        return item
    if item is None or item.submitted_at is None or not scopes.grants(current_token(), CURATE):
        raise NotFound(f"There is no such {model.kind}.")
    return item


def _out(item: Story | Quote) -> StorySubmissionOut | QuoteSubmissionOut:
    return StorySubmissionOut.of(item) if isinstance(item, Story) else QuoteSubmissionOut.of(
        item)


def _location(item: Story | Quote) -> str:
    if isinstance(item, Story):
        return url_for("api.get_submitted_story", story_id=item.id)
    return url_for("api.get_submitted_quote", quote_id=item.id)


def _mapped(error: InvalidInput, fields: dict[str, str]) -> InvalidInput:
    """The rules' errors under this API's field names (the pointers a client can follow)."""
    return InvalidInput({fields.get(name, name): message for name, message in error.errors.items()})


# -- submitting ----------------------------------------------------------------------------------


@operation("POST", "/stories", scope=SUBMIT, tag=TAG, summary="Share a story",
           body=StoryIn, response=StorySubmissionOut, status=201)
def submit_story(body: StoryIn) -> Created:
    """Shares a story as the token's person, under the web form's rules: submitted to the
    editors (who are notified), or saved as a draft with `"draft": true`. A broken rule is a
    422 listing every field at fault. `team_id` defaults to the author's team, as on the form."""
    author = current()
    try:
        story = services.create_story(author, body.to_input(author.team_id),
                                      submit=not body.draft)
    except InvalidInput as error:
        raise _mapped(error, STORY_FIELDS) from None
    db.session.commit()
    story = queries.submission(Story, story.id)
    return Created(StorySubmissionOut.of(story), _location(story))


@operation("POST", "/quotes", scope=SUBMIT, tag=TAG, summary="Share a customer quote",
           body=QuoteIn, response=QuoteSubmissionOut, status=201)
def submit_quote(body: QuoteIn) -> Created:
    """Shares a customer quote as the token's person, under the web form's rules (submitted, or
    a draft with `"draft": true`)."""
    try:
        quote = services.create_quote(current(), body.to_input(), submit=not body.draft)
    except InvalidInput as error:
        raise _mapped(error, QUOTE_FIELDS) from None
    db.session.commit()
    quote = queries.submission(Quote, quote.id)
    return Created(QuoteSubmissionOut.of(quote), _location(quote))


# -- my submissions ------------------------------------------------------------------------------


class MineQuery(PageQuery):
    status: SubmissionStatus | None = Field(None, description="Only items in this status.")
    kind: Literal["story", "quote"] | None = Field(None, description="Only stories or quotes.")


def _feedback(item: Story | Quote) -> str | None:
    if item.status in (S.CHANGES_REQUESTED, S.REJECTED):
        return item.editor_note
    return None


@operation("GET", "/me/submissions", scope=READ, tag=TAG,
           summary="My stories and quotes, newest first", query=MineQuery,
           response=Page[MySubmissionOut])
def list_my_submissions(query: MineQuery) -> Page[MySubmissionOut]:
    """The token person's own stories and quotes with their status (and the editors' note when
    changes were requested or the item was rejected), newest first."""
    user_id = current().id
    statement, order = queries.my_submissions(user_id, query.status, query.kind)
    rows, after = keyset(statement, order, query, rows=True,
                         scope=f"mine|{user_id}|{query.status}|{query.kind}",
                         key=lambda row: (row.created_at, row.kind, row.id), session=db.session)
    items = queries.submissions_by_ref([(row.kind, row.id) for row in rows])
    return Page[MySubmissionOut](data=[_mine(item) for item in items], next_cursor=after)


def _mine(item: Story | Quote) -> MySubmissionOut:
    ref = edition_for(item)
    title = item_title(item, 80)
    return MySubmissionOut(
        kind=item.kind, id=item.id, status=item.status, version=item.version, title=title,
        feedback=_feedback(item), created_at=item.created_at, updated_at=item.updated_at,
        submitted_at=item.submitted_at,
        edition=EditionRefOut(number=ref.number, sent=ref.sent, sent_at=ref.sent_at)
        if ref is not None else None,
        url=_location(item),
    )


# -- the review queue ----------------------------------------------------------------------------


class ReviewStatus(StrEnum):
    """The statuses an item can have once it was sent to the editors."""

    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class QueueQuery(PageQuery):
    status: ReviewStatus = Field(ReviewStatus.SUBMITTED, description="Default: waiting ones.")
    team_id: int | None = Field(None, ge=1, le=INT_MAX, description="Only this team's items.")


def _queue(model: type[Story] | type[Quote], query: QueueQuery) -> tuple[list[Any], str | None]:
    statement = queries.review_queue(model, SubmissionStatus(query.status.value), query.team_id)
    return keyset(statement, [(model.submitted_at, False), (model.id, False)], query,
                  scope=f"queue|{model.kind}|{query.status}|{query.team_id}",
                  key=lambda item: (item.submitted_at, item.id), session=db.session)


@operation("GET", "/submissions/stories", scope=CURATE, tag=REVIEW_TAG,
           summary="The story review queue, oldest first", query=QueueQuery,
           response=Page[StorySubmissionOut])
def list_submitted_stories(query: QueueQuery) -> Page[StorySubmissionOut]:
    """Stories sent to the editors, in a status (default: submitted, waiting for a decision),
    oldest submission first like the review queue on the web."""
    rows, after = _queue(Story, query)
    return Page[StorySubmissionOut](data=[StorySubmissionOut.of(s) for s in rows],
                                    next_cursor=after)


@operation("GET", "/submissions/quotes", scope=CURATE, tag=REVIEW_TAG,
           summary="The quote review queue, oldest first", query=QueueQuery,
           response=Page[QuoteSubmissionOut])
def list_submitted_quotes(query: QueueQuery) -> Page[QuoteSubmissionOut]:
    """Quotes sent to the editors, in a status (default: submitted), oldest first."""
    rows, after = _queue(Quote, query)
    return Page[QuoteSubmissionOut](data=[QuoteSubmissionOut.of(q) for q in rows],
                                    next_cursor=after)


@operation("GET", "/submissions/stories/<int:story_id>", scope=READ, tag=REVIEW_TAG,
           summary="One story for review (or your own)", response=StorySubmissionOut,
           etag=True)
def get_submitted_story(story_id: int) -> StorySubmissionOut:
    """The whole story with its version; its ETag (`"story-<id>-v<version>"`) is what a
    decision's If-Match names. Curators see anything ever submitted; anyone their own."""
    return StorySubmissionOut.of(_viewable(Story, story_id))


@operation("GET", "/submissions/quotes/<int:quote_id>", scope=READ, tag=REVIEW_TAG,
           summary="One quote for review (or your own)", response=QuoteSubmissionOut,
           etag=True)
def get_submitted_quote(quote_id: int) -> QuoteSubmissionOut:
    """The whole quote with its version and ETag (`"quote-<id>-v<version>"`)."""
    return QuoteSubmissionOut.of(_viewable(Quote, quote_id))


# -- decisions -----------------------------------------------------------------------------------


def _decide(kind: str, item_id: int, body: Decision,
            decide: Callable[[Story | Quote, int], None]) -> Out:
    """Load for review, check the version the curator saw, decide, commit, answer the item."""
    item = get_item(kind, item_id)
    current_etag = etags.quote(version_tag(item.kind, item.id, item.version))
    seen = etags.require_match(current_etag, item.version, body.version)
    decide(item, seen)
    db.session.commit()
    return _out(queries.submission(type(item), item_id))


def _noted(field: str, decide):
    """A note-taking decision whose "write a note" refusal points at the body's field."""
    def run(item: Story | Quote, seen: int, text: str) -> None:
        try:
            decide(item, actor=current(), seen_version=seen, **{field: text})
        except ValidationError as error:
            if type(error) is ValidationError:
                raise ValidationError(error.message, field=field) from None
            raise
    return run


def _approve(item: Story | Quote, seen: int) -> None:
    review.approve(item, actor=current(), seen_version=seen)  # the upcoming edition


DECISION_ERRORS = (409, 412, 428)


def _decision_ops(kind: str, path: str, param: str, out: type) -> None:
    """Approve, request changes and reject for one kind (stories and quotes alike)."""
    noun = "story" if kind == "story" else "quote"

    def approve(body: ApproveIn, **ids: int):
        return _decide(kind, ids[param], body, _approve)

    approve.__name__ = f"approve_{noun}"
    approve.__doc__ = (f"Approves the {noun}: it joins the upcoming edition and the author is "
                       "told. Send If-Match (the ETag you read) or `version`.")
    operation("POST", f"{path}/approve", scope=CURATE, tag=REVIEW_TAG,
              summary=f"Approve a {noun}", body=ApproveIn, response=out, if_match=True)(approve)

    changes = _noted("note", review.request_changes)

    def request_changes(body: RequestChangesIn, **ids: int):
        return _decide(kind, ids[param], body, lambda i, seen: changes(i, seen, body.note))

    request_changes.__name__ = f"request_{noun}_changes"
    request_changes.__doc__ = (f"Sends the {noun} back to its author with a note saying what "
                               "to change. Send If-Match or `version`.")
    operation("POST", f"{path}/request-changes", scope=CURATE, tag=REVIEW_TAG,
              summary=f"Request changes to a {noun}", body=RequestChangesIn, response=out,
              if_match=True)(request_changes)

    refuse = _noted("reason", review.reject)

    def reject(body: RejectIn, **ids: int):
        return _decide(kind, ids[param], body, lambda i, seen: refuse(i, seen, body.reason))

    reject.__name__ = f"reject_{noun}"
    reject.__doc__ = (f"Turns the {noun} down with a reason, which the author receives. Send "
                      "If-Match or `version`.")
    operation("POST", f"{path}/reject", scope=CURATE, tag=REVIEW_TAG,
              summary=f"Reject a {noun}", body=RejectIn, response=out, if_match=True)(reject)


_decision_ops("story", "/submissions/stories/<int:story_id>", "story_id", StorySubmissionOut)
_decision_ops("quote", "/submissions/quotes/<int:quote_id>", "quote_id", QuoteSubmissionOut)
