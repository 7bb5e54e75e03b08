"""SCIM 2.0 provisioning (app/scim): /scim/v2 through the real stack, token to database.

The conformance run of scim2-tester lives in tests/test_scim_conformance.py.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.models import Delivery
from app.models import Role
from app.models import Team
from app.models import User
from app.newsletter import sending
from app.newsletter.recipients import RecipientReport
from app.newsletter.recipients import iter_recipients
from app.scim import services
from tests.helpers_sender import seed_edition

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def token(app, admin):
    _token, secret = services.create_token("Okta", actor=admin)
    db.session.commit()
    return secret


@pytest.fixture
def scim(app, token):
    """A test client speaking SCIM with the token: scim.get("/Users"), scim.post("/Users", {})."""

    class Client:
        def __init__(self):
            self.http = app.test_client()
            self.headers = {"Authorization": f"Bearer {token}"}

        def open(self, method, path, body=None, headers=None):
            response = self.http.open(
                "/scim/v2" + path,
                method=method,
                data=json.dumps(body) if body is not None else None,
                headers={**self.headers, "Content-Type": "application/scim+json",
                         **(headers or {})},
            )
            assert response.status_code < 500, response.get_data(as_text=True)
            return response

        def get(self, path, **kw):
            return self.open("GET", path, **kw)

        def post(self, path, body, **kw):
            return self.open("POST", path, body, **kw)

        def put(self, path, body, **kw):
            return self.open("PUT", path, body, **kw)

        def patch(self, path, *operations, **kw):
            return self.open("PATCH", path, {"schemas": [PATCH], "Operations": list(operations)},
                             **kw)

        def delete(self, path, **kw):
            return self.open("DELETE", path, **kw)

    return Client()


def new_user(scim, email="jane.doe@example.com", **extra):
    body = {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"value": email, "type": "work", "primary": True}],
        "displayName": "Jane Doe",
        "active": True,
        **extra,
    }
    response = scim.post("/Users", body)
    assert response.status_code == 201, response.json
    return response.json


def assert_error(response, status, scim_type=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body = response.json
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status) and body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type
    return body


def recipients() -> set[str]:
    return {r.email for r in iter_recipients(RecipientReport())}


# Users -------------------------------------------------------------------------------------------
def test_create_read_and_list_a_user(scim):
    created = new_user(scim, "Jane.Doe@Example.COM", externalId="00u1abc")
    assert created["userName"] == "jane.doe@example.com"  # normalised like User.normalize_email
    assert created["displayName"] == "Jane Doe" and created["active"] is True
    assert created["emails"] == [{"value": "jane.doe@example.com", "type": "work", "primary": True}]
    assert created["externalId"] == "00u1abc"
    assert created["meta"]["resourceType"] == "User"
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")

    person = db.session.get(User, int(created["id"]))
    assert (person.email, person.display_name, person.external_id, person.role) == (
        "jane.doe@example.com", "Jane Doe", "00u1abc", Role.EMPLOYEE)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "scim.user.create"))
    assert event.actor_id is None and event.details["token"] == "Okta"

    read = scim.get(f"/Users/{created['id']}")
    assert read.status_code == 200 and read.mimetype == "application/scim+json"
    assert read.json["userName"] == "jane.doe@example.com"

    listed = scim.get("/Users").json
    assert listed["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert created["id"] in [r["id"] for r in listed["Resources"]]


def test_display_name_falls_back_to_name_parts(scim):
    response = scim.post("/Users", {"schemas": [USER], "userName": "sam@example.com",
                                    "name": {"givenName": "Sam", "familyName": "Lee"}})
    assert response.status_code == 201 and response.json["displayName"] == "Sam Lee"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('userName eq "JANE.DOE@example.com"', ["jane.doe@example.com"]),
        ('emails.value eq "jane.doe@example.com"', ["jane.doe@example.com"]),
        ('emails[value eq "jane.doe@example.com"]', ["jane.doe@example.com"]),
        ('externalId eq "ext-2"', ["max@example.com"]),
        ('externalId eq "EXT-2"', []),  # externalId is case-exact
        ('userName eq "nobody@example.com"', []),
    ],
)
def test_user_filters(scim, query, expected):
    new_user(scim, "jane.doe@example.com", externalId="ext-1")
    new_user(scim, "max@example.com", externalId="ext-2")
    response = scim.http.get("/scim/v2/Users", query_string={"filter": query},
                             headers=scim.headers)
    assert response.status_code == 200
    assert [r["userName"] for r in response.json["Resources"]] == expected
    assert response.json["totalResults"] == len(expected)


@pytest.mark.parametrize(
    "query",
    [
        'userName sw "jane"',
        'name.givenName eq "Jane"',
        "userName eq",
        "((",
        'userName eq "a" or userName eq "b"',
        "x" * 2000,
    ],
)
def test_unsupported_or_broken_filters_are_400_invalid_filter(scim, query):
    response = scim.http.get("/scim/v2/Users", query_string={"filter": query},
                             headers=scim.headers)
    assert_error(response, 400, "invalidFilter")


def test_pagination_limits(scim, admin):
    for n in range(5):
        new_user(scim, f"p{n}@example.com")
    total = 6  # the five and the admin

    def page(**args):
        response = scim.http.get("/scim/v2/Users", query_string=args, headers=scim.headers)
        assert response.status_code == 200, response.json
        return response.json

    first = page(startIndex=1, count=2)
    assert (first["totalResults"], first["startIndex"], first["itemsPerPage"]) == (total, 1, 2)
    second = page(startIndex=3, count=2)
    assert {r["id"] for r in first["Resources"]}.isdisjoint(r["id"] for r in second["Resources"])
    zero = page(count=0)  # count=0: only the total
    assert (zero["totalResults"], zero["itemsPerPage"], zero.get("Resources", [])) == (total, 0, [])
    beyond = page(startIndex=100)
    assert (beyond["totalResults"], beyond.get("Resources", [])) == (total, [])
    many = page(count=10_000)  # more than the maximum: lowered to it
    assert many["itemsPerPage"] == total
    below = page(startIndex=0, count=-3)  # below the minimum: 1 and 0 (RFC 7644 §3.4.2.4)
    assert (below["startIndex"], below["itemsPerPage"]) == (1, 0)
    for huge in (str(2**63), str(2**64 + 1), "9" * 100, "-" + "9" * 100):
        assert page(startIndex=huge, count=huge)["totalResults"] == total
    for bad in ("ten", "1.5", "0x10"):
        response = scim.http.get("/scim/v2/Users", query_string={"count": bad},
                                 headers=scim.headers)
        assert_error(response, 400, "invalidValue")


def test_patch_active_false_removes_the_person_from_the_next_edition(scim):
    created = new_user(scim, "leaver@example.com")
    assert "leaver@example.com" in recipients()

    response = scim.patch(f"/Users/{created['id']}",
                          {"op": "replace", "path": "active", "value": False})
    assert response.status_code == 200 and response.json["active"] is False

    db.session.expire_all()
    person = db.session.get(User, int(created["id"]))
    assert person.is_active_user is False
    assert "leaver@example.com" not in recipients()
    # The next edition's sending builds its delivery list without them.
    edition = seed_edition()
    db.session.commit()
    assert sending.claim_edition(edition.id)
    assert sending.create_deliveries(edition) is not None
    addresses = set(db.session.scalars(
        sa.select(Delivery.email).where(Delivery.edition_id == edition.id)))
    assert "priya@example.com" in addresses and "leaver@example.com" not in addresses
    # Still visible to the provider, and brought back the same way (Entra's spelling).
    assert scim.get(f"/Users/{created['id']}").json["active"] is False
    scim.patch(f"/Users/{created['id']}", {"op": "Replace", "path": "active", "value": "True"})
    assert "leaver@example.com" in recipients()


def test_patch_without_path_and_put(scim):
    created = new_user(scim, "jo@example.com")
    response = scim.patch(f"/Users/{created['id']}",
                          {"op": "replace", "value": {"displayName": "Jo Bloggs",
                                                      "externalId": "x-9"}})
    assert (response.json["displayName"], response.json["externalId"]) == ("Jo Bloggs", "x-9")
    response = scim.patch(f"/Users/{created['id']}", {"op": "remove", "path": "externalId"})
    assert "externalId" not in response.json

    body = {"schemas": [USER], "userName": "jo.bloggs@example.com", "displayName": "Jo B.",
            "active": True, "externalId": "x-10"}
    replaced = scim.put(f"/Users/{created['id']}", body)
    assert replaced.status_code == 200
    assert (replaced.json["userName"], replaced.json["displayName"]) == (
        "jo.bloggs@example.com", "Jo B.")
    db.session.expire_all()
    assert db.session.get(User, int(created["id"])).email == "jo.bloggs@example.com"


def test_delete_erases_the_person_and_keeps_their_stories(scim, make_story):
    """DELETE erases (app/privacy, default settings: the account becomes an anonymous shell,
    stories stay by "A former colleague"); the same userName later is a new account."""
    created = new_user(scim, "gone@example.com", externalId="ext-gone")
    person = db.session.get(User, int(created["id"]))
    story = make_story(author=person)
    db.session.commit()

    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert_error(scim.get(f"/Users/{created['id']}"), 404)
    listed = scim.http.get("/scim/v2/Users", headers=scim.headers,
                           query_string={"filter": 'userName eq "gone@example.com"'})
    assert listed.json["totalResults"] == 0
    assert_error(scim.delete(f"/Users/{created['id']}"), 404)

    db.session.expire_all()
    person = db.session.get(User, int(created["id"]))
    assert person is not None and person.is_active_user is False and person.external_id is None
    assert person.erased_at is not None and person.display_name == "A former colleague"
    assert person.email == f"erased-{person.id}@erased.invalid"
    assert story.author_id == person.id
    assert "gone@example.com" not in recipients()
    erased = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.erase"))
    assert erased.object_id == person.id and erased.details["via"] == "scim"
    assert "gone@example.com" not in str(
        [e.details for e in db.session.scalars(sa.select(AuditEvent))])

    # The provider creating the same person again makes a new account: never the erased one.
    again = new_user(scim, "gone@example.com")
    assert again["id"] != created["id"] and again["active"] is True
    assert_error(scim.get(f"/Users/{created['id']}"), 404)


def test_an_erased_person_stays_hidden_even_if_reactivated(scim, admin_client):
    created = new_user(scim, "back@example.com")
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert_error(scim.get(f"/Users/{created['id']}"), 404)
    admin_client.post(f"/admin/users/{created['id']}/reactivate")
    assert_error(scim.get(f"/Users/{created['id']}"), 404)


def test_an_admin_reactivating_a_deactivated_person_shows_them_to_the_provider(scim,
                                                                               admin_client):
    created = new_user(scim, "back@example.com")
    response = scim.patch(f"/Users/{created['id']}",
                          {"op": "replace", "path": "active", "value": False})
    assert response.status_code == 200 and response.json["active"] is False
    reactivated = admin_client.post(f"/admin/users/{created['id']}/reactivate")
    assert reactivated.status_code == 302
    assert scim.get(f"/Users/{created['id']}").json["active"] is True


def test_duplicate_username_and_external_id_are_409_uniqueness(scim, admin):
    new_user(scim, "dup@example.com", externalId="same")
    assert_error(scim.post("/Users", {"schemas": [USER], "userName": "DUP@example.com",
                                      "displayName": "Twin"}), 409, "uniqueness")
    assert_error(scim.post("/Users", {"schemas": [USER], "userName": "other@example.com",
                                      "displayName": "Other", "externalId": "same"}),
                 409, "uniqueness")
    # An account made in the app (the admin) is not duplicated either.
    assert_error(scim.post("/Users", {"schemas": [USER], "userName": admin.email,
                                      "displayName": "Admin"}), 409, "uniqueness")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("displayName", "Jane\x00Doe"),
        ("displayName", "Jane\x1bDoe"),
        ("displayName", "J" * 10_000),
        ("userName", "jane\x07@example.com"),
        ("userName", "not-an-email"),
        ("userName", "x" * 10_000 + "@example.com"),
        ("externalId", "e\x00"),
        ("externalId", "e" * 10_000),
        ("active", "maybe"),
    ],
)
def test_bad_values_are_400(scim, field, value):
    body = {"schemas": [USER], "userName": "ok@example.com", "displayName": "Ok", field: value}
    assert_error(scim.post("/Users", body), 400)
    assert db.session.scalar(sa.select(User).where(User.email == "ok@example.com")) is None


def test_bad_payloads_are_400(scim):
    response = scim.http.post("/scim/v2/Users", data="{not json",
                              headers={**scim.headers, "Content-Type": "application/scim+json"})
    assert_error(response, 400, "invalidSyntax")
    assert_error(scim.post("/Users", ["a list"]), 400, "invalidSyntax")
    assert_error(scim.post("/Users", {"schemas": [USER], "displayName": "No userName"}), 400)
    created = new_user(scim)
    assert_error(scim.patch(f"/Users/{created['id']}", {"op": "explode", "path": "active"}), 400)


def test_unknown_ids_are_404(scim):
    for path in ("/Users/999999", "/Users/abc", "/Users/" + "9" * 30, "/Groups/999999",
                 "/Groups/-1", "/Nope", "/Schemas/urn:nope", "/ResourceTypes/Nope"):
        assert_error(scim.get(path), 404)
    assert_error(scim.patch("/Users/999999", {"op": "replace", "path": "active", "value": False}),
                 404)


def test_wrong_methods_are_405(scim):
    assert_error(scim.delete("/Users"), 405)
    assert_error(scim.post("/ServiceProviderConfig", {}), 405)
    assert_error(scim.open("PUT", "/Schemas"), 405)


def test_the_last_admin_cannot_be_deactivated(scim, admin):
    response = scim.patch(f"/Users/{admin.id}", {"op": "replace", "path": "active", "value": False})
    body = assert_error(response, 409)
    assert "last active administrator" in body["detail"]
    assert_error(scim.delete(f"/Users/{admin.id}"), 409)
    db.session.expire_all()
    assert db.session.get(User, admin.id).is_active_user is True


# Groups ------------------------------------------------------------------------------------------
def test_groups_are_teams_and_members_set_the_team(scim):
    jane, max_ = new_user(scim, "jane@example.com"), new_user(scim, "max@example.com")
    created = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Support",
                                    "externalId": "grp-1", "members": [{"value": jane["id"]}]})
    assert created.status_code == 201, created.json
    group_id = created.json["id"]
    assert [m["value"] for m in created.json["members"]] == [jane["id"]]
    team = db.session.get(Team, int(group_id))
    assert (team.name, team.external_id) == ("Support", "grp-1")
    assert db.session.get(User, int(jane["id"])).team_id == team.id

    scim.patch(f"/Groups/{group_id}", {"op": "add", "path": "members",
                                      "value": [{"value": max_["id"]}]})
    scim.patch(f"/Groups/{group_id}", {"op": "remove", "path": f'members[value eq "{jane["id"]}"]'})
    db.session.expire_all()
    assert db.session.get(User, int(jane["id"])).team_id is None
    assert db.session.get(User, int(max_["id"])).team_id == team.id

    found = scim.http.get("/scim/v2/Groups", query_string={"filter": 'displayName eq "support"'},
                          headers=scim.headers).json
    assert [g["id"] for g in found["Resources"]] == [group_id]
    slim = scim.http.get(f"/scim/v2/Groups/{group_id}",
                         query_string={"excludedAttributes": "members"}, headers=scim.headers)
    assert "members" not in slim.json and slim.json["displayName"] == "Support"

    # Entra removes a member by naming it in `value`.
    scim.patch(f"/Groups/{group_id}", {"op": "Remove", "path": "members",
                                      "value": [{"value": max_["id"]}]})
    db.session.expire_all()
    assert db.session.get(User, int(max_["id"])).team_id is None

    assert_error(scim.post("/Groups", {"schemas": [GROUP], "displayName": "SUPPORT"}),
                 409, "uniqueness")
    assert_error(scim.patch(f"/Groups/{group_id}", {"op": "add", "path": "members",
                                                   "value": [{"value": "424242"}]}), 400)

    assert scim.delete(f"/Groups/{group_id}").status_code == 204
    assert_error(scim.get(f"/Groups/{group_id}"), 404)
    db.session.expire_all()
    assert db.session.get(Team, int(group_id)) is not None  # stories keep their team


def test_search_with_post(scim):
    jane = new_user(scim, "jane@example.com")
    scim.post("/Groups", {"schemas": [GROUP], "displayName": "Support"})
    search = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

    found = scim.post("/Users/.search", {"schemas": [search], "attributes": ["userName"],
                                         "filter": 'userName eq "jane@example.com"'})
    assert found.status_code == 200
    assert found.json["Resources"] == [{"id": jane["id"], "schemas": [USER],
                                        "userName": "jane@example.com"}]
    both = scim.post("/.search", {"schemas": [search], "count": 10}).json
    assert both["totalResults"] == 3  # the admin, Jane and the team
    only_groups = scim.post("/.search", {"schemas": [search], "filter": 'displayName eq "Support"'})
    assert [r["displayName"] for r in only_groups.json["Resources"]] == ["Support"]
    assert_error(scim.post("/.search", {"schemas": [search], "filter": 'nope eq "x"'}), 400,
                 "invalidFilter")
    assert_error(scim.post("/Groups/.search", {"schemas": [search], "count": "many"}), 400,
                 "invalidValue")


# Discovery ---------------------------------------------------------------------------------------
def test_discovery_endpoints(scim):
    config = scim.get("/ServiceProviderConfig")
    assert config.status_code == 200 and config.mimetype == "application/scim+json"
    assert config.json["patch"]["supported"] is True
    assert config.json["filter"] == {"supported": True, "maxResults": 200}
    assert config.json["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    names = {s["name"] for s in scim.get("/Schemas").json["Resources"]}
    assert {"User", "Group", "Schema", "ResourceType", "ServiceProviderConfig"} <= names
    user_schema = scim.get(f"/Schemas/{USER}").json
    assert {a["name"] for a in user_schema["attributes"]} == {
        "userName", "displayName", "emails", "active"}
    types = scim.get("/ResourceTypes").json["Resources"]
    assert {(t["name"], t["endpoint"]) for t in types} == {("User", "/Users"),
                                                           ("Group", "/Groups")}
    assert scim.get("/ResourceTypes/User").json["schema"] == USER


# Tokens ------------------------------------------------------------------------------------------
def test_requests_without_a_valid_token_are_401(app, scim, admin):
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer fgf_scim_wrong"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            response = client.open("/scim/v2/Users/1", method=method, headers=headers)
            assert_error(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")

    token = db.session.scalar(sa.select(AccessToken))
    services.revoke_token(token, actor=admin)
    db.session.commit()
    assert_error(scim.get("/Users"), 401)


def test_token_is_stored_hashed_and_last_use_is_noted_once_a_minute(scim, token):
    row = db.session.scalar(sa.select(AccessToken))
    assert token.startswith("fgf_scim_") and len(token) > 40
    assert row.token_hash == services.hash_token(token) and token not in row.token_hash
    assert row.prefix == token[:13] and row.last_used_at is None

    scim.get("/Users")
    db.session.expire_all()
    first = db.session.scalar(sa.select(AccessToken)).last_used_at
    assert first is not None
    scim.get("/Users")
    db.session.expire_all()
    assert db.session.scalar(sa.select(AccessToken)).last_used_at == first


@pytest.mark.app_config(SCIM_RATE_LIMIT="3 per minute")
def test_rate_limit_answers_a_scim_429_with_retry_after(scim):
    statuses = [scim.get("/ServiceProviderConfig").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    body = assert_error(scim.get("/ServiceProviderConfig"), 429)
    assert body["status"] == "429"
    assert scim.get("/ServiceProviderConfig").headers.get("Retry-After")


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_writes_need_no_csrf_token_but_a_bearer_token(scim):
    """The API is CSRF-exempt (no cookies authorise it); with CSRF on, writes still work."""
    created = new_user(scim, "csrf@example.com")
    response = scim.patch(f"/Users/{created['id']}",
                          {"op": "replace", "path": "displayName", "value": "C. Srf"})
    assert response.status_code == 200 and response.json["displayName"] == "C. Srf"
    assert scim.delete(f"/Users/{created['id']}").status_code == 204


@pytest.mark.parametrize("name", ["Sup\x00port", "Sup\x85port", "S" * 10_000, "   "])
def test_bad_group_names_are_400(scim, name):
    assert_error(scim.post("/Groups", {"schemas": [GROUP], "displayName": name}), 400)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 0


def test_search_body_paging_beyond_64_bits(scim):
    search = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
    for value in (2**63, 2**64 + 1, -(2**70), 10**100):
        response = scim.post("/Users/.search", {"schemas": [search], "startIndex": value,
                                                "count": value})
        assert response.status_code == 200, response.json
    for bad in (1.5, True, [1], "x"):
        assert_error(scim.post("/Users/.search", {"schemas": [search], "count": bad}), 400)


def test_head_reads_like_get(scim):
    created = new_user(scim, "head@example.com")
    assert scim.open("HEAD", f"/Users/{created['id']}").status_code == 200
    assert scim.open("HEAD", "/ServiceProviderConfig").status_code == 200


def test_okta_group_rename_sends_the_id_along(scim):
    created = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Sales"}).json
    response = scim.patch(f"/Groups/{created['id']}",
                          {"op": "replace", "value": {"id": created["id"],
                                                      "displayName": "Sales EMEA"}})
    assert response.status_code == 200, response.json
    assert response.json["displayName"] == "Sales EMEA"
    assert db.session.get(Team, int(created["id"])).name == "Sales EMEA"


def test_entra_style_user_patch_with_attributes_the_app_does_not_keep(scim):
    created = new_user(scim, "ent@example.com")
    response = scim.patch(
        f"/Users/{created['id']}",
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "other@example.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Enid"},
        {"op": "Replace", "path": "title", "value": "Agent"},
        {"op": "Replace", "path": "displayName", "value": "Enid Tran"},
    )
    assert response.status_code == 200, response.json
    assert (response.json["userName"], response.json["displayName"]) == (
        "ent@example.com", "Enid Tran")
    assert response.json["emails"][0]["value"] == "ent@example.com"
