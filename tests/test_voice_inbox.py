"""The editors' customer-voice inbox through the test client: order, every filter, search with
hostile input, keyset pages, escaping, tabs, empty states, roles and the admin-only original.

`comment` and `add` are shared with tests/test_voice_curation.py: verbatims go in the way
every channel stores them (services.Intake + insert_rows: redacted, banded, mentions found).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.extensions import db as _db
from app.models import Origin
from app.models import QuoteSource
from app.models import Scale
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import VoiceImport
from app.settings import set_settings
from app.voice import services
from tests import factories
from tests.fixtures.voice import DAY
from tests.fixtures.voice import add
from tests.fixtures.voice import comment
from tests.fixtures.voice import make_source

INBOX = "/review/voice/"
_IDS = re.compile(r'id="verbatim-(\d+)"')


def shown(client, **args) -> list[int]:
    """The verbatim ids the inbox lists, in order."""
    response = client.get(INBOX, query_string=args)
    assert response.status_code == 200, response.status_code
    return [int(i) for i in _IDS.findall(response.get_data(as_text=True))]


@pytest.fixture
def noah(db):
    team = factories.make_team("Contact Centre")
    user = factories.make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    db.session.commit()
    return user


# -- access --------------------------------------------------------------------------------------


def test_only_editors_and_admins_open_the_inbox(app, db, survey, client, employee_client,
                                                editor_client, admin_client):
    (verbatim,) = add(survey, comment("Lovely people in the shop.", 10))
    for path in (INBOX, f"{INBOX}{verbatim.id}", f"{INBOX}{verbatim.id}/story"):
        assert employee_client.get(path).status_code == 403
        assert client.get(path).status_code == 302  # to sign in
        assert editor_client.get(path).status_code == 200
        assert admin_client.get(path).status_code == 200
    for action in ("quote", "dismiss", "restore", "story"):
        assert employee_client.post(f"{INBOX}{verbatim.id}/{action}").status_code == 403
    assert employee_client.post(f"{INBOX}dismiss", data={"ids": verbatim.id}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Verbatim, verbatim.id).status == VerbatimStatus.NEW


def test_the_navigation_offers_customer_voice_to_curators_only(db, survey, noah,
                                                               employee_client, editor_client):
    add(survey, comment("Noah Levi was brilliant.", 10))
    page = editor_client.get("/").get_data(as_text=True)
    assert f'href="{INBOX}"' in page and "<span>Voice</span>" in page
    assert '<span class="count-badge">1<' in page  # one promoter naming a colleague waits
    inbox = editor_client.get(INBOX).get_data(as_text=True)
    assert 'aria-current="page">\n    <span>Voice' in inbox
    assert f'href="{INBOX}"' not in employee_client.get("/").get_data(as_text=True)


# -- order ---------------------------------------------------------------------------------------


def test_promoters_naming_a_colleague_come_first_then_newest_then_highest_id(
        db, survey, noah, editor_client):
    old_star, plain_new, detractor_naming, same_day_a, same_day_b, star_new = add(
        survey,
        comment("Noah Levi sorted it all out.", 10, day=DAY - timedelta(days=20)),
        comment("Quick and friendly.", 10, day=DAY),
        comment("Noah Levi was rude to me.", 2, day=DAY),
        comment("Fine.", 8, day=DAY - timedelta(days=5)),
        comment("Okay.", 7, day=DAY - timedelta(days=5)),
        comment("Thanks to Noah Levi!", 9, day=DAY - timedelta(days=1)),
    )
    assert [v.priority for v in (old_star, star_new, detractor_naming)] == [0, 0, 1]
    assert shown(editor_client) == [
        star_new.id, old_star.id,  # promoters naming a colleague, newest first
        detractor_naming.id, plain_new.id,  # then everything else, newest first, highest id
        same_day_b.id, same_day_a.id,
    ]


def test_the_inbox_is_read_in_index_order(app, db, survey):
    """Each priority's branch walks ix_verbatims_inbox (no sort of the whole table)."""
    from app.voice import queries

    add(survey, comment("One.", 9), comment("Two.", 3))
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM verbatims" in statement and "ORDER BY" in statement:
            statements.append((statement, parameters))

    engine = db.engine
    sqlite = engine.dialect.name == "sqlite"
    db.event.listen(engine, "before_cursor_execute", capture)
    try:
        queries.inbox(queries.InboxFilters())
    finally:
        db.event.remove(engine, "before_cursor_execute", capture)
    assert len(statements) == 2  # priority 0, then priority 1
    conn = db.session.connection()
    if not sqlite:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table: ask for the plan
    for statement, parameters in statements:
        explain = ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement
        plan = conn.exec_driver_sql(explain, parameters).all()
        text = " ".join(str(row[-1] if sqlite else row[0]) for row in plan)
        assert "ix_verbatims_inbox" in text, text
        assert "TEMP B-TREE" not in text and "Sort Key" not in text, text


def test_search_is_answered_by_the_full_text_index(app, db, survey):
    """SQLite: the FTS5 table; PostgreSQL: the GIN index, whose expression the query repeats."""
    from app.voice import queries

    add(survey, comment("The courier was lovely."))
    conn = db.session.connection()
    sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    condition = queries._search(["courier"], conn.dialect.name)
    stmt = db.select(Verbatim.id).where(condition)
    compiled = stmt.compile(conn, compile_kwargs={"render_postcompile": True})
    explain = ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + str(compiled)
    params = compiled.positiontup and tuple(compiled.params[k] for k in compiled.positiontup)
    plan = conn.exec_driver_sql(explain, params or compiled.params).all()
    text = " ".join(str(row[-1] if sqlite else row[0]) for row in plan)
    assert ("VIRTUAL TABLE INDEX" in text and "verbatims_fts" in text) if sqlite else (
        "verbatims_fts_idx" in text), text
    assert db.session.scalars(stmt).all() == [1]


# -- filters -------------------------------------------------------------------------------------


@pytest.fixture
def mix(db, survey, noah):
    """One verbatim per filter value, from two sources."""
    email = make_source("reviews", "Google reviews", QuoteSource.REVIEW_SITE)
    stores = factories.make_team("Retail Stores")
    store = factories.touchpoint("store")
    db.session.commit()
    batch = VoiceImport(source=survey, filename="march.csv", sha256="0" * 64)
    db.session.add(batch)
    db.session.commit()
    promoter, passive, detractor = add(
        survey,
        comment("Noah Levi went the extra mile.", 10, day=DAY - timedelta(days=10)),
        comment("It was alright, nothing special.", 7, day=DAY - timedelta(days=3)),
        comment("Waited far too long on the phone.", 2, day=DAY),
        import_id=batch.id,
    )
    unscored, csat = add(
        email,
        comment("Great shop, great people.", team_id=stores.id, touchpoint_id=store.id,
                day=DAY - timedelta(days=1)),
        comment("Very satisfied with the repair.", 5, scale=Scale.CSAT,
                day=DAY - timedelta(days=2)),
    )
    return {"promoter": promoter, "passive": passive, "detractor": detractor,
            "unscored": unscored, "csat": csat, "reviews": email, "stores": stores,
            "store": store, "import": batch}


def test_every_filter_narrows_the_inbox(db, mix, survey, editor_client):
    m = {k: v.id for k, v in mix.items()}
    everything = shown(editor_client)
    assert sorted(everything) == sorted(m[k] for k in ("promoter", "passive", "detractor",
                                                        "unscored", "csat"))
    assert shown(editor_client, band="promoter") == [m["promoter"], m["csat"]]  # mention first
    assert shown(editor_client, band="passive") == [m["passive"]]
    assert shown(editor_client, band="detractor") == [m["detractor"]]
    assert shown(editor_client, band="unscored") == [m["unscored"]]
    assert shown(editor_client, source=m["reviews"]) == [m["unscored"], m["csat"]]
    assert shown(editor_client, source=survey.id) == [m["promoter"], m["detractor"], m["passive"]]
    assert shown(editor_client, team=m["stores"]) == [m["unscored"]]
    assert shown(editor_client, touchpoint=m["store"]) == [m["unscored"]]
    assert shown(editor_client, **{"from": (DAY - timedelta(days=2)).isoformat()}) == [
        m["detractor"], m["unscored"], m["csat"]]
    assert shown(editor_client, to=(DAY - timedelta(days=3)).isoformat()) == [
        m["promoter"], m["passive"]]
    assert shown(editor_client, **{"from": (DAY - timedelta(days=3)).isoformat(),
                                   "to": (DAY - timedelta(days=2)).isoformat()}) == [
        m["csat"], m["passive"]]
    assert shown(editor_client, mentions="1") == [m["promoter"]]
    assert shown(editor_client, import_id=m["import"]) == [
        m["promoter"], m["detractor"], m["passive"]]
    assert "march.csv" in editor_client.get(INBOX, query_string={
        "import_id": m["import"]}).get_data(as_text=True)
    assert shown(editor_client, q="phone") == [m["detractor"]]
    assert shown(editor_client, q="great shop") == [m["unscored"]]
    assert shown(editor_client, q="satisf") == [m["csat"]]  # the last word is a prefix
    assert shown(editor_client, band="promoter", source=m["reviews"], q="repair") == [m["csat"]]


@pytest.mark.parametrize("args", [
    {"band": "superfans"}, {"source": "abc"}, {"team": "99999999999999999999"},
    {"touchpoint": "-4"}, {"from": "2026-13-45"}, {"to": "yesterday"}, {"from": "9" * 500},
    {"import_id": "1e9"}, {"status": "filtered"}, {"status": "../../etc"}, {"mentions": ""},
    {"cursor": "garbage"}, {"cursor": "x" * 5000}, {"team": "\x00"}, {"q": ""},
    {"cursor": "W1s1LDEsMV0sMF0"},  # [[5,1,1],0]: a priority that does not exist
])
def test_values_it_cannot_use_are_ignored(db, mix, editor_client, args):
    assert len(shown(editor_client, **args)) == 5


def test_the_filters_stay_in_the_links(db, mix, editor_client):
    page = editor_client.get(INBOX, query_string={"band": "promoter", "q": "mile"}).get_data(
        as_text=True)
    assert 'href="/review/voice/?status=used&amp;band=promoter&amp;q=mile"' in page
    assert 'href="/review/voice/?status=dismissed&amp;band=promoter&amp;q=mile"' in page
    assert '<option selected value="promoter">' in page
    assert 'value="mile"' in page
    assert ">Clear filters<" in page


HOSTILE = [
    '"', '""', "'", "NEAR(", "NEAR(a b", "*", "-", "-noah", "a OR b", "AND", "a AND", "^",
    "(", ")", "{col}: x", "text:noah", "noah*", '"unclosed', "\x00", "\x01\x1f\x7f", "\u202e",
    "%", "_", "\\", "a:*", "!a & b | c", "<script>", "x" * 2000, "word " * 400, "😀", "a-b_c",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_search_survives_hostile_input(db, mix, editor_client, q):
    response = editor_client.get(INBOX, query_string={"q": q})
    assert response.status_code == 200
    assert "<script>" not in response.get_data(as_text=True).split("</header>", 1)[1]


def test_search_matches_words_not_syntax(db, survey, editor_client):
    near, quoted, star = add(
        survey,
        comment("near the station, the staff helped"),
        comment('She said "brilliant" twice.'),
        comment("five * stars"),
    )
    assert shown(editor_client, q="NEAR(") == [near.id]
    assert shown(editor_client, q='"brilliant"') == [quoted.id]
    assert shown(editor_client, q="stars*") == [star.id]
    assert shown(editor_client, q="-staff") == [near.id]  # not a NOT: the word itself
    assert shown(editor_client, q="nothing-like-this") == []


# -- pages ---------------------------------------------------------------------------------------


def _pages(client, **args) -> list[list[int]]:
    """Every page, following "Next" links, then back with "Previous" to the first."""
    pages, cursor = [], None
    while True:
        query = {**args, **({"cursor": cursor} if cursor else {})}
        page = client.get(INBOX, query_string=query).get_data(as_text=True)
        pages.append([int(i) for i in _IDS.findall(page)])
        found = re.search(r'href="[^"]*cursor=([^"&]+)[^"]*" rel="next"', page)
        if not found:
            return pages
        cursor = found.group(1)


def test_pages_of_fifty_cross_from_the_first_priority_to_the_second(db, survey, noah,
                                                                    editor_client):
    starred = [comment(f"Noah Levi helped, visit {i}.", 10, day=DAY - timedelta(days=i % 7))
               for i in range(30)]
    plain = [comment(f"Fine visit {i}.", 8, day=DAY - timedelta(days=i % 5)) for i in range(71)]
    add(survey, *starred, *plain)
    expected = [v.id for v in _db.session.scalars(
        _db.select(Verbatim).order_by(Verbatim.priority, Verbatim.received_on.desc(),
                                      Verbatim.id.desc()))]
    pages = _pages(editor_client)
    assert [len(p) for p in pages] == [50, 50, 1]
    assert [i for p in pages for i in p] == expected

    # Back from the last page, then from the second: each "Previous" is the page before.
    last = editor_client.get(INBOX, query_string={"cursor": _cursor_of(editor_client, 2)})
    back = re.search(r'href="[^"]*cursor=([^"&]+)[^"]*" rel="prev"', last.get_data(as_text=True))
    assert shown(editor_client, cursor=back.group(1)) == pages[1]
    second = editor_client.get(INBOX, query_string={"cursor": _cursor_of(editor_client, 1)})
    back = re.search(r'href="[^"]*cursor=([^"&]+)[^"]*" rel="prev"',
                     second.get_data(as_text=True))
    first = editor_client.get(INBOX, query_string={"cursor": back.group(1)}).get_data(
        as_text=True)
    assert [int(i) for i in _IDS.findall(first)] == pages[0]
    assert 'rel="prev"' not in first  # the first page, whole


def _cursor_of(client, page_number: int) -> str:
    """The cursor that opens page `page_number` (0-based) of the default inbox."""
    cursor = None
    for _ in range(page_number):
        query = {"cursor": cursor} if cursor else {}
        page = client.get(INBOX, query_string=query).get_data(as_text=True)
        cursor = re.search(r'href="[^"]*cursor=([^"&]+)[^"]*" rel="next"', page).group(1)
    return cursor


def test_exactly_one_page_has_no_next_link(db, survey, editor_client):
    add(survey, *[comment(f"Comment number {i}.", 9) for i in range(50)])
    page = editor_client.get(INBOX).get_data(as_text=True)
    assert len(_IDS.findall(page)) == 50
    assert 'rel="next"' not in page and 'rel="prev"' not in page
    add(survey, comment("One more.", 9))
    assert 'rel="next"' in editor_client.get(INBOX).get_data(as_text=True)


# -- what a card shows ---------------------------------------------------------------------------


def test_a_card_shows_the_facts_and_the_text_escaped(app, db, survey, noah, editor_client):
    sharer = factories.make_user(display_name="Priya Raman", email="priya@example.com")
    store = factories.touchpoint("store")
    db.session.commit()
    (verbatim,) = add(survey, comment(
        "<script>alert('x')</script> Noah Levi & the Contact Centre team, call me on "
        "+44 20 7946 0958 or mail ana@example.com", 9, team_id=noah.team_id,
        touchpoint_id=store.id, language="en-GB", sharer_id=sharer.id, consent=True))
    for path in (INBOX, f"{INBOX}{verbatim.id}"):
        page = editor_client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Noah Levi &amp; the" in page
        assert "[email]" in page and "ana@example.com" not in page
        assert "NPS 9" in page and "nps--promoter" in page
        assert "NPS survey" in page and "Survey / NPS" in page
        assert store.label in page and "Contact Centre" in page and "en-GB" in page
        assert "Priya Raman" in page  # forwarded by
        assert "<strong>Noah Levi</strong>" in page or "Noah Levi</dd>" in page
        assert f"{verbatim.redactions} items redacted" in page or "were redacted" in page
    assert verbatim.redactions == 2


def test_tabs_count_and_show_new_used_and_dismissed(db, survey, editor, editor_client):
    new, used, dismissed = add(survey, comment("Still new."), comment("Was used."),
                               comment("Not for us."))
    db.session.execute(db.update(Verbatim).where(Verbatim.id == used.id).values(
        status=VerbatimStatus.USED))
    db.session.execute(db.update(Verbatim).where(Verbatim.id == dismissed.id).values(
        status=VerbatimStatus.DISMISSED, decided_by_id=editor.id))
    db.session.commit()
    page = editor_client.get(INBOX).get_data(as_text=True)
    assert re.search(r'aria-current="page">Inbox <span class="count-badge">1<', page)
    assert 'Used <span class="count-badge">1<' in page
    assert 'Dismissed <span class="count-badge">1<' in page
    assert shown(editor_client) == [new.id]
    assert shown(editor_client, status="used") == [used.id]
    dismissed_tab = editor_client.get(INBOX, query_string={"status": "dismissed"})
    text = dismissed_tab.get_data(as_text=True)
    assert "Dismissed by Dana Editor" in text and ">Restore<" in text
    assert 'name="ids"' not in text  # no bulk dismissal of what is dismissed


def test_counts_stop_at_the_cap(db, survey, editor_client, monkeypatch):
    from app.voice import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    add(survey, *[comment(f"Comment {i}.", 9) for i in range(5)])
    page = editor_client.get(INBOX).get_data(as_text=True)
    assert "3+ comments waiting" in page
    assert 'Inbox <span class="count-badge">3+<' in page
    assert len(_IDS.findall(page)) == 5  # the list itself is not capped


def test_score_only_responses_stay_out_of_the_inbox(db, survey, editor_client):
    add(survey, comment(None, 3), comment(None, 10))
    page = editor_client.get(INBOX).get_data(as_text=True)
    assert "No customer comments yet" in page


# -- empty states --------------------------------------------------------------------------------


def test_before_anything_arrives_the_inbox_explains_the_three_ways_in(app, db, editor_client):
    page = editor_client.get(INBOX).get_data(as_text=True)
    assert "No customer comments yet" in page
    assert "flask voice import FILE" in page and "webhook" in page
    assert app.config["VOICE_INBOX_ADDRESS"] in page


def test_filters_that_match_nothing_say_so_and_offer_to_clear(db, mix, editor_client):
    page = editor_client.get(INBOX, query_string={"band": "detractor", "mentions": "1"})
    text = page.get_data(as_text=True)
    assert "No comments match" in text and 'href="/review/voice/">Clear filters' in text
    caught_up = editor_client.get(INBOX, query_string={"status": "used"}).get_data(as_text=True)
    assert "Nothing here yet" in caught_up


# -- the original text ---------------------------------------------------------------------------


def test_only_admins_see_the_original_and_only_when_kept(app, db, survey, admin, editor_client,
                                                         admin_client):
    set_settings({"voice_keep_original": True}, actor=admin)
    db.session.commit()
    kept, = add(survey, comment("Write to ana@example.com please."))
    set_settings({"voice_keep_original": False}, actor=admin)
    db.session.commit()
    plain, = add(survey, comment("Write to bo@example.com please."))
    assert kept.original_text == "Write to ana@example.com please."
    assert plain.original_text is None
    admin_page = admin_client.get(f"{INBOX}{kept.id}").get_data(as_text=True)
    assert "Original text, before redaction (admins only)" in admin_page
    assert "ana@example.com" in admin_page
    editor_page = editor_client.get(f"{INBOX}{kept.id}").get_data(as_text=True)
    assert "ana@example.com" not in editor_page and "Original text" not in editor_page
    assert "Original text" not in admin_client.get(f"{INBOX}{plain.id}").get_data(as_text=True)


def test_an_unknown_or_filtered_verbatim_is_not_found(db, survey, editor_client):
    intake = services.Intake(survey, Origin.IMPORT)
    services.insert_rows([intake.row(services.check(comment("Only the score.", 4)),
                                     filtered=True)])
    db.session.commit()
    filtered = db.session.scalar(db.select(Verbatim.id))
    assert editor_client.get(f"{INBOX}{filtered}").status_code == 404
    assert editor_client.get(f"{INBOX}999999").status_code == 404
    assert editor_client.get(f"{INBOX}99999999999999999999").status_code == 404


def test_the_section_tabs_lead_to_the_inbox_import_and_sources(db, editor_client):
    page = editor_client.get(INBOX).get_data(as_text=True)
    tabs = re.search(r'<nav class="tabs" aria-label="Customer voice">(.*?)</nav>', page, re.S)
    assert re.findall(r'href="([^"]+)"', tabs.group(1)) == [
        INBOX, "/review/voice/import/", "/review/voice/sources"]
    assert f'<a href="{INBOX}" aria-current="page">Inbox</a>' in tabs.group(1)
    upload = editor_client.get("/review/voice/import/").get_data(as_text=True)
    assert '<a href="/review/voice/import/" aria-current="page">Import</a>' in upload
