"""API tokens, the services and queries: created with a secret shown once and stored hashed,
scopes bounded by the role of the person the token acts as, an expiry within two years, a cap
per person, revoked by the owner or an admin; odd input refused with nothing written."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.errors import Conflict
from app.errors import NotFound
from app.errors import PermissionDenied
from app.errors import ValidationError
from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.models import Role
from app.models import utcnow
from app.scim import services as scim_services
from app.tokens import queries
from app.tokens import scopes
from app.tokens import services

PARIS = ZoneInfo("Europe/Paris")


def _count(model=AccessToken, *conditions) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


def _personal(user, name="Script", wanted=("read",), expires_at=None):
    token, secret = services.create_personal_token(
        user, name=name, scopes=list(wanted), expires_at=expires_at
    )
    db.session.commit()
    return token, secret


# Creation ----------------------------------------------------------------------------------------
def test_a_personal_token_is_stored_as_its_hash_only(employee):
    token, secret = _personal(employee, "  Weekly   report ", ("read", "submit"))

    assert secret.startswith("fgf_pat_") and len(secret) == len("fgf_pat_") + 43
    row = db.session.scalar(sa.select(AccessToken))
    assert (row.purpose, row.name, row.scopes) == ("personal", "Weekly report", "read submit")
    assert (row.user_id, row.created_by_id, row.expires_at) == (employee.id, employee.id, None)
    assert row.token_hash == services.hash_token(secret) and row.prefix == secret[:12]
    stored = [str(v) for v in db.session.execute(sa.select(AccessToken.__table__)).one()]
    assert not any(secret in value for value in stored)
    event = db.session.scalar(sa.select(AuditEvent))
    assert (event.action, event.actor_id, event.object_id) == (
        "api_token.create", employee.id, token.id)
    assert event.details["scopes"] == "read submit" and secret not in str(event.details)
    assert queries.api_token_for_secret(services.hash_token(secret)) == row
    assert scopes.effective(row) == {"read", "submit"}


def test_two_tokens_never_share_a_secret(employee):
    _, first = _personal(employee)
    _, second = _personal(employee)
    assert first != second and _count() == 2


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.EMPLOYEE, {"read", "submit"}),
        (Role.EDITOR, {"read", "submit", "curate"}),
        (Role.ADMIN, {"read", "submit", "curate", "admin"}),
    ],
)
def test_a_role_bounds_the_scopes_of_a_personal_token(make_user, role, allowed):
    user = make_user(role)
    db.session.commit()
    for scope in scopes.SCOPES:
        if scope in allowed:
            continue
        with pytest.raises(ValidationError, match=scope) as refused:
            services.create_personal_token(user, name="x", scopes=["read", scope],
                                           expires_at=None)
        assert refused.value.field == "scopes"
        db.session.rollback()
    token, _ = _personal(user, wanted=sorted(allowed))
    assert scopes.parse(token.scopes) == allowed
    assert _count() == 1 and _count(AuditEvent) == 1


def test_a_token_loses_a_scope_when_its_person_loses_the_role(editor):
    token, secret = _personal(editor, wanted=("read", "curate"))
    assert scopes.effective(token) == {"read", "curate"}
    editor.role = Role.EMPLOYEE
    db.session.commit()
    assert scopes.effective(token) == {"read"} and not scopes.grants(token, "curate")
    editor.is_active_user = False
    db.session.commit()
    assert scopes.effective(token) == frozenset()


def test_scopes_imply_others_only_while_the_person_may_use_them(make_user, admin, editor):
    """`curate` includes `read`; `admin` every scope the role allows; one the person lost
    implies nothing (a demoted administrator's `admin` token can do nothing)."""
    curating, _ = _personal(editor, wanted=("curate",))
    assert scopes.effective(curating) == {"curate", "read"}
    assert not scopes.grants(curating, "submit") and not scopes.grants(curating, "admin")
    everything, _ = _personal(admin, wanted=("admin",))
    assert scopes.effective(everything) == {"read", "submit", "curate", "admin"}
    admin.role = Role.EDITOR
    db.session.commit()
    assert scopes.effective(everything) == frozenset()
    editor.role = Role.EMPLOYEE
    db.session.commit()
    assert scopes.effective(curating) == frozenset()


def test_a_service_token_acting_as_an_employee_cannot_curate(admin, employee, editor):
    with pytest.raises(ValidationError, match="curate"):
        services.create_service_token(actor=admin, name="Bot", acts_as=employee,
                                      scopes=["read", "curate"], expires_at=None)
    db.session.rollback()
    assert _count() == 0 and _count(AuditEvent) == 0

    token, secret = services.create_service_token(
        actor=admin, name="Bot", acts_as=editor, scopes=["curate"], expires_at=None)
    db.session.commit()
    assert secret.startswith("fgf_svc_") and token.prefix == secret[:12]
    assert (token.purpose, token.user_id, token.created_by_id) == ("service", editor.id, admin.id)
    assert scopes.effective(token) == {"curate", "read"}  # curate includes read
    event = db.session.scalar(sa.select(AuditEvent))
    assert (event.action, event.actor_id, event.details["acts_as"]) == (
        "api_token.create", admin.id, editor.id)


def test_only_an_active_admin_creates_service_tokens(make_user, employee, editor, admin):
    for actor in (employee, editor):
        with pytest.raises(PermissionDenied):
            services.create_service_token(actor=actor, name="Bot", acts_as=actor,
                                          scopes=["read"], expires_at=None)
    retired = make_user(Role.ADMIN, active=False)
    with pytest.raises(PermissionDenied):
        services.create_service_token(actor=retired, name="Bot", acts_as=admin,
                                      scopes=["read"], expires_at=None)
    with pytest.raises(ValidationError, match="deactivated") as refused:
        services.create_service_token(actor=admin, name="Bot", acts_as=retired,
                                      scopes=["read"], expires_at=None)
    assert refused.value.field == "acts_as"
    db.session.rollback()
    assert _count() == 0


def test_the_acting_person_is_found_by_email(admin, employee):
    assert services.acting_person("  ERIN@example.com ") == employee
    for bad in ("", "   ", "erin", None, 42, "a\x00@example.com", "x" * 400 + "@example.com"):
        with pytest.raises(ValidationError) as refused:
            services.acting_person(bad)
        assert refused.value.field == "acts_as"
    with pytest.raises(ValidationError, match="No one here has the address nobody@example.com"):
        services.acting_person("nobody@example.com")


# Odd input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["", "   ", "\u200b\u200b", "bad\x00name", "tab\tname", "line\nbreak", "bell\x07",
     "c1\x85control", "x" * 121, "x" * 10_000, None, 12, ["list"]],
    ids=lambda v: repr(v)[:20],
)
def test_odd_names_are_refused_and_nothing_is_written(employee, name):
    with pytest.raises(ValidationError) as refused:
        services.create_personal_token(employee, name=name, scopes=["read"], expires_at=None)
    assert refused.value.field == "name"
    db.session.rollback()
    assert _count() == 0 and _count(AuditEvent) == 0


def test_the_longest_name_is_kept_whole(employee):
    token, _ = _personal(employee, name="é" * 120)
    assert token.name == "é" * 120


@pytest.mark.parametrize(
    "wanted",
    [[], ["READ"], ["read "], ["write"], [None], [1], "read", ["read", "x" * 10_000],
     [["read"]], ["read", "admin"]],
    ids=lambda v: repr(v)[:20],
)
def test_odd_scopes_are_refused(employee, wanted):
    with pytest.raises(ValidationError) as refused:
        services.create_personal_token(employee, name="x", scopes=wanted, expires_at=None)
    assert refused.value.field == "scopes"
    db.session.rollback()
    assert _count() == 0


def test_repeated_scopes_are_stored_once_in_order(employee):
    token, _ = _personal(employee, wanted=["submit", "read"] * 500)
    assert token.scopes == "read submit"


def test_a_deactivated_person_cannot_create_a_token(make_user):
    gone = make_user(Role.EDITOR, active=False)
    with pytest.raises(PermissionDenied):
        services.create_personal_token(gone, name="x", scopes=["read"], expires_at=None)


# Expiry ------------------------------------------------------------------------------------------
def test_expiry_must_be_in_the_future_and_within_two_years(employee):
    now = utcnow()
    refused = [
        now - timedelta(seconds=1),
        now - timedelta(days=400),
        now + services.MAX_LIFETIME + timedelta(minutes=1),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2030, 1, 1),  # naive: which zone?
        "2030-01-01",
        1_900_000_000,
    ]
    for value in refused:
        with pytest.raises(ValidationError) as error:
            services.create_personal_token(employee, name="x", scopes=["read"],
                                           expires_at=value)
        assert error.value.field == "expires_at", value
        db.session.rollback()
    assert _count() == 0

    soon, _ = _personal(employee, expires_at=now + timedelta(minutes=5))
    last, _ = _personal(employee, expires_at=now + services.MAX_LIFETIME - timedelta(minutes=1))
    paris, _ = _personal(employee, expires_at=datetime(2027, 3, 1, 12, tzinfo=PARIS))
    assert soon.expires_at > now and last.expires_at > now + timedelta(days=730)
    assert paris.expires_at == datetime(2027, 3, 1, 11, tzinfo=UTC)


def test_the_forms_expiry_choices():
    now = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # already 7 December in Paris
    choose = services.expiry_from_choice
    assert choose("30", None, zone=PARIS, now=now) == now + timedelta(days=30)
    assert choose("365", date(2000, 1, 1), zone=PARIS, now=now) == now + timedelta(days=365)
    assert choose("never", None, zone=PARIS, now=now) is None
    # A date: the token works through that day in the organization's zone.
    assert choose("date", date(2026, 12, 7), zone=PARIS, now=now) == datetime(
        2026, 12, 7, 23, tzinfo=UTC)
    last_day = date(2028, 12, 6)  # the day before two years (731 days) run out, in Paris
    assert choose("date", last_day, zone=PARIS, now=now) <= now + services.MAX_LIFETIME
    cases = {
        ("date", date(2026, 12, 6)): "expires_on",  # yesterday in Paris
        ("date", last_day + timedelta(days=1)): "expires_on",
        ("date", date(9999, 12, 31)): "expires_on",  # no OverflowError
        ("date", date(1, 1, 1)): "expires_on",
        ("date", None): "expires_on",
        ("7", None): "expires",
        ("", None): "expires",
        ("30 ", None): "expires",
        ("٣٠", None): "expires",  # Arabic-Indic digits: isdigit() but not a choice
        ("9" * 5000, None): "expires",
    }
    for (choice, on_date), field in cases.items():
        with pytest.raises(ValidationError) as refused:
            choose(choice, on_date, zone=PARIS, now=now)
        assert refused.value.field == field, (choice, on_date)


def test_an_expired_or_revoked_token_is_not_found_by_its_secret(employee):
    token, secret = _personal(employee, expires_at=utcnow() + timedelta(minutes=5))
    digest = services.hash_token(secret)
    assert queries.api_token_for_secret(digest) == token
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert queries.api_token_for_secret(digest) is None
    assert queries.status(token) == queries.EXPIRED

    other, other_secret = _personal(employee)
    services.revoke_token(other, actor=employee)
    db.session.commit()
    assert queries.api_token_for_secret(services.hash_token(other_secret)) is None
    assert queries.status(other) == queries.REVOKED


# The cap -----------------------------------------------------------------------------------------
def test_a_person_has_at_most_fifty_active_tokens_of_a_kind(employee, admin):
    for n in range(services.ACTIVE_CAP):
        services.create_personal_token(employee, name=f"t{n}", scopes=["read"], expires_at=None)
    db.session.commit()
    with pytest.raises(Conflict, match="already has 50 active personal tokens"):
        services.create_personal_token(employee, name="one more", scopes=["read"],
                                       expires_at=None)
    db.session.rollback()
    assert _count() == 50

    # Service tokens acting as the same person count apart.
    services.create_service_token(actor=admin, name="Bot", acts_as=employee, scopes=["read"],
                                  expires_at=None)
    db.session.commit()

    # A revoked or an expired token frees its place.
    first, second = queries.tokens_of(employee)[:2]
    services.revoke_token(first, actor=employee)
    second.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    _personal(employee, name="again")
    _personal(employee, name="and again")
    with pytest.raises(Conflict):
        services.create_personal_token(employee, name="over", scopes=["read"], expires_at=None)


# Revocation --------------------------------------------------------------------------------------
def test_the_owner_revokes_a_personal_token_once(employee):
    token, _ = _personal(employee)
    services.revoke_token(token, actor=employee)
    db.session.commit()
    assert token.revoked_at is not None
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "api_token.revoke"))
    assert (event.actor_id, event.object_id) == (employee.id, token.id)
    with pytest.raises(Conflict, match="already revoked"):
        services.revoke_token(token, actor=employee)


def test_an_admin_revokes_any_token_and_nobody_else_does(make_user, employee, editor, admin):
    mine, _ = _personal(employee)
    service, _ = services.create_service_token(actor=admin, name="Bot", acts_as=employee,
                                               scopes=["read"], expires_at=None)
    db.session.commit()
    other = make_user(Role.EMPLOYEE)
    for actor, token in ((other, mine), (editor, mine), (employee, service), (editor, service)):
        with pytest.raises(PermissionDenied):
            services.revoke_token(token, actor=actor)
    assert mine.revoked_at is None and service.revoked_at is None
    retired = make_user(Role.ADMIN, active=False)
    with pytest.raises(PermissionDenied):
        services.revoke_token(mine, actor=retired)

    services.revoke_token(mine, actor=admin)
    services.revoke_token(service, actor=admin)
    db.session.commit()
    assert _count(AccessToken, AccessToken.revoked_at.is_not(None)) == 2
    assert _count(AuditEvent, AuditEvent.action == "api_token.revoke") == 2


def test_a_scim_token_is_not_an_api_token(admin):
    scim, _ = scim_services.create_token("Okta", actor=admin)
    db.session.commit()
    with pytest.raises(PermissionDenied):
        services.revoke_token(scim, actor=admin)
    with pytest.raises(NotFound):
        queries.get_api_token(scim.id)
    with pytest.raises(NotFound):
        queries.get_api_token(2**31 - 1)


def test_get_api_token_checks_the_purpose(admin, employee):
    token, _ = _personal(employee)
    assert queries.get_api_token(token.id) == token
    assert queries.get_api_token(token.id, "personal") == token
    with pytest.raises(NotFound):
        queries.get_api_token(token.id, "service")


# Use ---------------------------------------------------------------------------------------------
def test_a_use_is_noted_at_most_once_a_minute(employee):
    token, _ = _personal(employee)
    now = utcnow()
    assert services.touch(token, now) is True and token.last_used_at == now
    assert services.touch(token, now + timedelta(seconds=59)) is False
    assert token.last_used_at == now
    assert services.touch(token, now + timedelta(minutes=1)) is True


def test_scim_hashes_with_the_shared_function(admin):
    assert scim_services.hash_token is services.hash_token
    _, secret = scim_services.create_token("Okta", actor=admin)
    db.session.commit()
    row = db.session.scalar(sa.select(AccessToken))
    assert row.token_hash == services.hash_token(secret)
    assert services.hash_token("\ud800") != services.hash_token("?")  # lone surrogates hash


# Lists -------------------------------------------------------------------------------------------
def test_a_persons_list_shows_active_tokens_first(employee, editor, admin):
    old, _ = _personal(employee, name="old")
    gone, _ = _personal(employee, name="gone")
    lapsed, _ = _personal(employee, name="lapsed")
    new, _ = _personal(employee, name="new")
    services.revoke_token(gone, actor=employee)
    lapsed.expires_at = utcnow() - timedelta(seconds=1)
    _personal(editor, name="not theirs")
    services.create_service_token(actor=admin, name="Bot", acts_as=employee, scopes=["read"],
                                  expires_at=None)
    db.session.commit()
    assert [t.name for t in queries.tokens_of(employee)] == ["new", "old", "lapsed", "gone"]


def _spread(tokens: list[AccessToken]) -> None:
    """Distinct creation times, one second apart, in creation order."""
    start = utcnow() - timedelta(hours=1)
    for n, token in enumerate(tokens):
        token.created_at = start + timedelta(seconds=n)
    db.session.commit()


def test_the_admin_list_pages_through_every_api_token(employee, admin):
    made = [_personal(employee, name=f"p{n}")[0] for n in range(20)]
    made += [services.create_service_token(actor=admin, name=f"s{n}", acts_as=employee,
                                           scopes=["read"], expires_at=None)[0]
             for n in range(8)]
    scim_services.create_token("Okta", actor=admin)
    db.session.commit()
    _spread(made)
    newest_first = [t.name for t in reversed(made)]

    first = queries.api_tokens(queries.Filters(), per_page=25)
    assert [t.name for t in first.items] == newest_first[:25]
    assert first.prev_cursor is None and first.next_cursor
    second = queries.api_tokens(queries.Filters(), first.next_cursor, per_page=25)
    assert [t.name for t in second.items] == newest_first[25:]
    assert second.next_cursor is None and second.prev_cursor
    back = queries.api_tokens(queries.Filters(), second.prev_cursor, per_page=25)
    assert [t.name for t in back.items] == newest_first[:25] and back.prev_cursor is None

    for garbage in ("", "x", "%%%", "eyJ9", "W10", "a" * 5000, "WyJhZnRlciIsIjIwMjYiLDFd"):
        page = queries.api_tokens(queries.Filters(), garbage, per_page=25)
        assert [t.name for t in page.items] == newest_first[:25], garbage


def test_the_admin_list_filters(employee, admin):
    live, _ = _personal(employee, name="live")
    gone, _ = _personal(employee, name="gone")
    lapsed, _ = _personal(employee, name="lapsed")
    bot, _ = services.create_service_token(actor=admin, name="bot", acts_as=admin,
                                           scopes=["admin"], expires_at=None)
    services.revoke_token(gone, actor=admin)
    lapsed.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    _spread([live, gone, lapsed, bot])

    def names(kind, status):
        return [t.name for t in queries.api_tokens(queries.Filters.parse(kind, status)).items]

    assert names(None, None) == ["bot", "lapsed", "gone", "live"]
    assert names("personal", "all") == ["lapsed", "gone", "live"]
    assert names("service", None) == ["bot"]
    assert names(None, "active") == ["bot", "live"]
    assert names(None, "revoked") == ["gone"]
    assert names("personal", "expired") == ["lapsed"]
    assert names("service", "revoked") == []
    assert queries.Filters.parse("scim", "bogus" * 100) == queries.Filters()
