"""How a webhook's JSON body becomes an `Incoming`: one function per payload layout, chosen by the
source's `payload` column through `MAPPINGS`.

A mapping only says where each value is (`read.score("score", body.get("score"))`); the `Reader`
checks the value's JSON type, resolves team and touchpoint names (services.Lookups), and then
applies the intake rules (services.check), naming the payload field each refusal is about, so a
sender gets 422 with `{"score": "A NPS score is a whole number from 0 to 10; got 11."}`.
Fields a mapping does not read are ignored; personal data in a payload (the customer's name,
email address, phone number) is never read, so it is never stored.

The signature is always ours (app/voice/hooks.py): a survey tool that signs its own way posts
through a relay that re-signs the body it received, unchanged, with the source's secret.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import date
from datetime import datetime
from enum import StrEnum
from typing import Any
from typing import TypeVar
from zoneinfo import ZoneInfo

from app.errors import ValidationError
from app.models import QuoteSource
from app.models import Scale
from app.settings import get_setting
from app.voice.services import Incoming
from app.voice.services import Lookups
from app.voice.services import check

E = TypeVar("E", bound=StrEnum)
RESPONSE_ID_REQUIRED = "The response id is required: it makes a repeated delivery harmless."
MAX_ANSWERS = 500  # a Typeform response with more answers than this is not a survey


class PayloadError(ValidationError):
    """The body is JSON but does not describe a valid response: a message per payload field."""

    status_code = 422

    def __init__(self, errors: dict[str, str]):
        super().__init__("The payload does not describe a valid response.")
        self.errors = errors


class Reader:
    """Reads one response's values out of a payload, remembering where each came from and
    collecting one error per field instead of stopping at the first."""

    def __init__(self, lookups: Lookups, today: date | None = None):
        self.lookups = lookups
        self.today = today or datetime.now(_zone()).date()
        self.values: dict[str, Any] = {}
        self.paths: dict[str, str] = {}  # Incoming attribute -> the payload field it came from
        self.errors: dict[str, str] = {}

    # Where a mapping puts each value -------------------------------------------------------------
    def response_id(self, path: str, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is None or value == "":
            self.error(path, RESPONSE_ID_REQUIRED)
        elif isinstance(value, str):
            self._keep("response_id", path, value)
        else:
            self.error(path, "The response id must be a string.")

    def text(self, path: str, value: Any) -> None:
        if value is None or isinstance(value, str):
            self._keep("text", path, value)
        else:
            self.error(path, "The comment must be a string.")

    def score(self, path: str, value: Any) -> None:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            self._keep("score", path, value)
        else:
            self.error(path, "The score must be a whole number.")

    def scale(self, path: str, value: Any) -> None:
        self._keep("scale", path, self._enum(Scale, path, value, "nps, csat or ces"))

    def channel(self, path: str, value: Any) -> None:
        choices = ", ".join(QuoteSource)
        self._keep("channel", path, self._enum(QuoteSource, path, value, choices))

    def received_at(self, path: str, value: Any) -> None:
        """An ISO 8601 date and time; the day it was in the company's time zone is kept."""
        if value is None:
            return
        moment = _iso(value, datetime.fromisoformat)
        if moment is None:
            self.error(path, "Use an ISO 8601 date and time, e.g. 2026-11-30T10:00:00Z.")
            return
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self._keep("received_on", path, moment.astimezone(_zone()).date())

    def received_on(self, path: str, value: Any) -> None:
        if value is None:
            return
        day = _iso(value, date.fromisoformat)
        if day is None:
            self.error(path, "Use an ISO 8601 date, e.g. 2026-11-30.")
        else:
            self._keep("received_on", path, day)

    def team(self, path: str, value: Any) -> None:
        self._keep("team_id", path, self._lookup(self.lookups.team, path, value))

    def touchpoint(self, path: str, value: Any) -> None:
        self._keep("touchpoint_id", path, self._lookup(self.lookups.touchpoint, path, value))

    def language(self, path: str, value: Any) -> None:
        if value is None or isinstance(value, str):
            self._keep("language", path, value)
        else:
            self.error(path, "The language must be a string, e.g. “en”.")

    def consent(self, path: str, value: Any) -> None:
        if value is None or isinstance(value, bool):
            self._keep("consent", path, bool(value))
        else:
            self.error(path, "Consent must be true or false.")

    def error(self, path: str, message: str) -> None:
        self.errors.setdefault(path, message)

    # The result ----------------------------------------------------------------------------------
    def incoming(self) -> Incoming:
        """The response read so far, checked by the intake rules; PayloadError otherwise."""
        if self.errors:
            raise PayloadError(self.errors)
        try:
            checked = check(Incoming(**{"received_on": self.today, **self.values}),
                            today=self.today)
        except ValidationError as error:
            field = error.field or "text"
            raise PayloadError({self.paths.get(field, field): error.message}) from None
        if checked.response_id is None:  # only invisible characters
            raise PayloadError({self.paths.get("response_id", "response_id"): RESPONSE_ID_REQUIRED})
        return checked

    def _keep(self, attribute: str, path: str, value: Any) -> None:
        if value is not None:
            self.values[attribute] = value
        self.paths[attribute] = path

    def _enum(self, kind: type[E], path: str, value: Any, choices: str) -> E | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return kind(value.strip().lower())
            except ValueError:
                pass
        self.error(path, f"Use one of {choices}.")
        return None

    def _lookup(self, find: Callable[[str], int | None], path: str, value: Any) -> int | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(path, "Give the name as a string.")
            return None
        try:
            return find(value)
        except ValidationError as error:
            self.error(path, error.message)
            return None


def _zone() -> ZoneInfo:
    return ZoneInfo(get_setting("timezone"))


def _iso(value: Any, parse: Callable[[str], Any]) -> Any:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        return parse(value.strip())
    except ValueError:
        return None


def _object(read: Reader, path: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    read.error(path, "Expected a JSON object.")
    return {}


# The mappings ------------------------------------------------------------------------------------
def generic(body: dict[str, Any], read: Reader) -> None:
    """Our own layout; every field but `response_id` may be left out:

    {"response_id": "r-1042", "text": "Sam at the Leeds store was wonderful.", "score": 9,
     "scale": "nps", "received_at": "2026-11-30T10:00:00Z" (or "received_on": "2026-11-30"),
     "team": "Leeds store", "touchpoint": "store", "language": "en", "consent": true,
     "channel": "survey"}

    A score needs its scale (nps 0-10, csat 1-5, ces 1-7); a response needs a text or a score.
    Without a date the day it arrived is used; without a channel, the source's.
    """
    read.response_id("response_id", body.get("response_id"))
    read.text("text", body.get("text"))
    read.score("score", body.get("score"))
    read.scale("scale", body.get("scale"))
    if body.get("received_at") is not None:
        read.received_at("received_at", body["received_at"])
    else:
        read.received_on("received_on", body.get("received_on"))
    read.team("team", body.get("team"))
    read.touchpoint("touchpoint", body.get("touchpoint"))
    read.language("language", body.get("language"))
    read.consent("consent", body.get("consent"))
    read.channel("channel", body.get("channel"))


# Typeform's question types that carry a number, and the scale each is read on.
TYPEFORM_SCORES = {"nps": Scale.NPS, "opinion_scale": Scale.NPS, "rating": Scale.CSAT}


def typeform(body: dict[str, Any], read: Reader) -> None:
    """Typeform's webhook body (event_type "form_response"), as documented at
    https://www.typeform.com/developers/webhooks/example-payload/ : `form_response.token` is the
    response id, `submitted_at` the date, `answers` a list of {"type", <value by type>,
    "field": {"id", "type", "ref"}} and `hidden` the form's hidden fields.

    - score: the answer to the question whose ref is "score", else the first answer to an
      `nps` or `opinion_scale` question (read as NPS) or a `rating` question (read as CSAT);
      a hidden field "scale" (nps, csat, ces) overrides the scale;
    - comment: the answer to the question whose ref is "comment", else the first `long_text`;
    - consent: the yes/no or legal question whose ref is "consent";
    - team, touchpoint, language, channel: hidden fields of those names.

    Other answers (names, email addresses, phone numbers) are not read.
    """
    if body.get("event_type") != "form_response":
        read.error("event_type", "Only “form_response” events carry a submitted response.")
    response = _object(read, "form_response", body.get("form_response"))
    hidden = _object(read, "form_response.hidden", response.get("hidden") or {})
    answers = response.get("answers")
    answers = [] if answers is None else answers
    if not isinstance(answers, list) or len(answers) > MAX_ANSWERS:
        read.error("form_response.answers", f"Expected a list of at most {MAX_ANSWERS} answers.")
        answers = []
    read.response_id("form_response.token", response.get("token"))
    read.received_at("form_response.submitted_at", response.get("submitted_at"))

    found = _typeform_answers(answers)
    if "score" in found:
        index, answer, kind = found["score"]
        read.score(f"form_response.answers[{index}].number", answer.get("number"))
        read.scale(f"form_response.answers[{index}].field.type", TYPEFORM_SCORES[kind].value)
    if "comment" in found:
        index, answer, _ = found["comment"]
        read.text(f"form_response.answers[{index}].text", answer.get("text"))
    if "consent" in found:
        index, answer, _ = found["consent"]
        read.consent(f"form_response.answers[{index}].boolean", answer.get("boolean"))
    if hidden.get("scale") is not None:
        read.scale("form_response.hidden.scale", hidden["scale"])
    for name in ("team", "touchpoint", "language", "channel"):
        getattr(read, name)(f"form_response.hidden.{name}", hidden.get(name))


def _typeform_answers(answers: list[Any]) -> dict[str, tuple[int, dict[str, Any], str]]:
    """The score, comment and consent answers: (index, answer, question type) each."""
    by_ref: dict[str, tuple[int, dict[str, Any], str]] = {}
    first: dict[str, tuple[int, dict[str, Any], str]] = {}
    for index, answer in enumerate(answers):
        field = answer.get("field") if isinstance(answer, dict) else None
        if not isinstance(field, dict):
            continue
        kind, ref = field.get("type"), field.get("ref")
        entry = (index, answer, kind if isinstance(kind, str) else "")
        if ref in ("score", "comment", "consent"):
            by_ref.setdefault(ref, entry)
        if kind in TYPEFORM_SCORES:
            first.setdefault("score", entry)
        elif kind == "long_text":
            first.setdefault("comment", entry)
    found = {**first, **by_ref}
    if "score" in found and found["score"][2] not in TYPEFORM_SCORES:
        index, answer, _ = found["score"]
        found["score"] = (index, answer, "nps")  # a question named "score" of another type
    return found


Mapping = Callable[[dict[str, Any], Reader], None]
MAPPINGS: dict[str, Mapping] = {"generic": generic, "typeform": typeform}
LABELS = {"generic": "Generic JSON", "typeform": "Typeform (form_response)"}
# A small body in each layout, for the copy-paste examples on the source's page.
EXAMPLES: dict[str, dict[str, Any]] = {
    "generic": {
        "response_id": "example-1", "text": "The new checkout was quick and the staff were lovely.",
        "score": 10, "scale": "nps", "language": "en", "consent": True,
    },
    "typeform": {
        "event_id": "01EXAMPLE", "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j", "token": "example-1", "submitted_at": "2026-11-30T10:00:00Z",
            "hidden": {"language": "en"},
            "answers": [
                {"type": "number", "number": 10,
                 "field": {"id": "Xy1", "type": "nps", "ref": "score"}},
                {"type": "text", "text": "The new checkout was quick and the staff were lovely.",
                 "field": {"id": "Xy2", "type": "long_text", "ref": "comment"}},
            ],
        },
    },
}


def read_payload(mapping: str, body: Any, lookups: Lookups) -> Incoming:
    """The response in `body` laid out as `mapping` says; PayloadError naming what is wrong."""
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object.")
    read = Reader(lookups)
    MAPPINGS[mapping](body, read)
    return read.incoming()
