"""GET /insights (scope `curate`): the figures editors see on the insights page.

Computed by the insights queries themselves (app.insights.queries: one definition per figure,
counted once per request), over a period the page supports: a named rolling period or custom
dates, in the organization's time zone. The key figures are the page's own tiles (labels,
units and details from app.insights.report), the structured parts are for data warehouses.
Where the page falls back to a default for an unusable period, the API answers 422.
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Annotated
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field

from app.api.problems import ApiProblem
from app.api.routing import operation
from app.api.schemas import Out
from app.api.schemas import TeamOut
from app.api.stories import Id
from app.insights import queries
from app.insights import report
from app.insights.periods import DEFAULT_PERIOD
from app.insights.periods import MAX_CUSTOM_DAYS
from app.insights.periods import PERIOD_CHOICES
from app.insights.periods import Period
from app.insights.periods import build_period
from app.insights.periods import rolling_period
from app.settings import page_settings
from app.tokens.scopes import CURATE

EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)


def _day(value: object) -> object:
    """Only YYYY-MM-DD (pydantic alone would take a number as a Unix time)."""
    if isinstance(value, str) and not _DAY.fullmatch(value):
        raise ValueError("Expected a date, YYYY-MM-DD.")
    return value


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
Day = Annotated[date | None, BeforeValidator(_day)]


class InsightsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    period: Literal["4w", "quarter", "year", "custom"] | None = Field(
        None, description="4w (default), quarter or year: that many Monday weeks up to today; "
                          "custom: from `from` to `to`.")
    start: Day = Field(None, alias="from", ge=EARLIEST, le=LATEST,
                       description="First day of a custom period (YYYY-MM-DD).")
    end: Day = Field(None, alias="to", ge=EARLIEST, le=LATEST,
                     description="Last day of a custom period, at most two years after `from`.")
    team_id: Id = Field(None, description="Only this team's content and people.")


def _refuse(parameter: str, detail: str) -> ApiProblem:
    return ApiProblem(422, "A query parameter is not valid.", kind="validation",
                      errors=[{"detail": detail, "parameter": parameter}])


def _period(query: InsightsQuery, timezone: str) -> Period:
    """The period asked for. The page falls back to the last 4 weeks for an unusable one; a
    client is told instead (422 naming the parameter), so it never gets figures it did not
    ask for."""
    custom = query.period == "custom" or (
        query.period is None and (query.start is not None or query.end is not None))
    if not custom:
        if query.start is not None or query.end is not None:
            raise _refuse("period", "from and to go with period=custom.")
        today = datetime.now(ZoneInfo(timezone)).date()
        return rolling_period(query.period or DEFAULT_PERIOD, today, timezone)
    if query.start is None:
        raise _refuse("from", "A custom period needs from (YYYY-MM-DD).")
    if query.end is None:
        raise _refuse("to", "A custom period needs to (YYYY-MM-DD).")
    if query.end < query.start:
        raise _refuse("to", "to is before from.")
    if (query.end - query.start).days >= MAX_CUSTOM_DAYS:
        raise _refuse("to", "A custom period covers at most two years.")
    return build_period("custom", query.start, query.end, timezone)


class PeriodOut(Out):
    key: str
    label: str
    start: date
    end: date = Field(description="The last day (inclusive).")
    timezone: str


class KeyFigureOut(Out):
    label: str
    value: int | float | str | None
    unit: str
    detail: str


class SectionOut(Out):
    slug: str
    title: str
    key_figures: list[KeyFigureOut]


class WeekOut(Out):
    week: str = Field(description="ISO week, e.g. 2026-W48.")
    first_day: date
    last_day: date
    stories_submitted: int
    quotes_submitted: int
    approved: int
    published: int


class ParticipationOut(Out):
    stories_submitted: int
    quotes_submitted: int
    approved: int
    published: int
    active_employees: int
    contributors: int
    contributor_share: float | None
    recognized: int
    recognized_share: float | None
    new_contributors: int
    weeks: list[WeekOut]


class FlowOut(Out):
    decisions: int
    approved: int
    changes_requested: int
    rejected: int
    acceptance_rate: float | None
    median_hours_to_decision: float | None
    median_hours_to_publication: float | None
    publications: int
    queue_now: int


class NewsletterOut(Out):
    editions: int
    recipients: int
    sent: int
    failed: int
    delivery_rate: float | None
    open_rate: float | None
    click_rate: float | None
    web_views: int
    reactions: int
    unsubscribed_in_period: int


class InsightsOut(Out):
    period: PeriodOut
    team: TeamOut | None
    generated_at: datetime
    participation: ParticipationOut
    flow: FlowOut
    newsletter: NewsletterOut
    sections: list[SectionOut] = Field(description="The page's key figures, section by section, "
                                                   "as editors see them.")


@operation("GET", "/insights", scope=CURATE, tag="Insights",
           summary="The insights figures for a period", query=InsightsQuery,
           response=InsightsOut)
def get_insights(query: InsightsQuery) -> InsightsOut:
    """Participation, recognition, touchpoints, the customer's voice, curated quotes, the
    editorial flow and newsletter reach, for a period and optionally one team: the figures of
    the insights page, computed the same way."""
    period = _period(query, str(page_settings()["timezone"]))
    team = None
    if query.team_id is not None:
        team = next(((i, name) for i, name in queries.team_choices() if i == query.team_id), None)
        if team is None:
            raise _refuse("team_id", "There is no such team.")
    filters = queries.Filters(period=period, team_id=query.team_id)
    data = queries.insights(filters)
    sections = [build(getattr(data, name), period)
                for name, build in report.SECTION_BUILDERS.items()]
    p, flow, news = data.participation, data.flow, data.newsletter
    return InsightsOut(
        period=PeriodOut(key=period.key, label=PERIOD_CHOICES[period.key], start=period.start,
                         end=period.end, timezone=period.timezone),
        team=TeamOut(id=team[0], name=team[1]) if team else None,
        generated_at=datetime.now(UTC),
        participation=ParticipationOut(
            stories_submitted=p.stories_submitted, quotes_submitted=p.quotes_submitted,
            approved=p.approved, published=p.published, active_employees=p.active_employees,
            contributors=p.contributors, contributor_share=p.contributor_share,
            recognized=p.recognized, recognized_share=p.recognized_share,
            new_contributors=p.new_contributors,
            weeks=[WeekOut(week=w.week.iso_label, first_day=w.week.first_day,
                           last_day=w.week.last_day, stories_submitted=w.stories_submitted,
                           quotes_submitted=w.quotes_submitted, approved=w.approved,
                           published=w.published) for w in p.weeks]),
        flow=FlowOut(
            decisions=flow.decisions, approved=flow.approved,
            changes_requested=flow.changes_requested, rejected=flow.rejected,
            acceptance_rate=flow.acceptance_rate,
            median_hours_to_decision=flow.median_hours_to_decision,
            median_hours_to_publication=flow.median_hours_to_publication,
            publications=flow.publications, queue_now=flow.queue_now),
        newsletter=NewsletterOut(
            editions=len(news.editions), recipients=news.recipients, sent=news.sent,
            failed=news.failed, delivery_rate=news.delivery_rate, open_rate=news.open_rate,
            click_rate=news.click_rate, web_views=news.web_views, reactions=news.reactions,
            unsubscribed_in_period=news.unsubscribed_in_period),
        sections=[SectionOut(slug=s.slug, title=s.title,
                             key_figures=[KeyFigureOut(label=k.label, value=k.value, unit=k.unit,
                                                       detail=k.detail)
                                          for k in s.key_figures])
                  for s in sections],
    )
