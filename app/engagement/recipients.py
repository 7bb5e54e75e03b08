"""The per-recipient parts of an edition email's tracked links: computed per message by the
sender, so they must cost microseconds.

`RecipientKeys` is built once per sending pass (settings read and signers made once); per
message the sender asks it for two values that fill the `TRACK` and `APPLAUSE` markers of the
compiled edition (app/newsletter/compose.py):

- `track(delivery_id, user_id)`: which message a click or open came from. Aggregate-only mode:
  a random tag, signed, stored nowhere, so distinct messages can be counted, nobody can be
  told apart and nobody can make up messages. Per-person mode: the delivery id, signed so
  nobody can record reads for others.
  With both click and open counting off: "-", recorded nowhere.
- `applause(user_id)`: a signed, expiring token naming the reader and the edition, so the
  email's "Applaud" link can land on a one-click confirmation without signing in. "-" for a
  recipient without an account (a distribution list): the page then asks to sign in.

Both values are URL-safe ([A-Za-z0-9._~-]), as `EditionMailer.message` requires: they go into
the HTML, the text and the quoted-printable body unencoded.
"""

from __future__ import annotations

NO_TRACK = "-"  # previews and test sends: never recorded
NO_APPLAUSE = "-"


class RecipientKeys:
    def __init__(self, edition_id: int) -> None:
        # Imported here: the package stays import-light for the composer and the MIME builder.
        # Only reads: the caller's session and transaction are left as they were.
        from app.engagement import tokens
        from app.settings import get_settings

        self.edition_id = edition_id
        settings = get_settings("track_clicks", "track_opens", "analytics_mode")
        self.tracking = bool(settings["track_clicks"] or settings["track_opens"])
        self.per_person = settings["analytics_mode"] == "person"
        self._random_tag = tokens.random_tag
        self._tag_signer = tokens.FastSigner(tokens.TAG_SALT)
        # One timestamp for the pass: links expire APPLAUSE_LINK_MAX_AGE_DAYS after the send.
        self._applause = tokens.ApplauseTokens(edition_id)

    def track(self, delivery_id: int | None, user_id: int | None) -> str:
        if not self.tracking:
            return NO_TRACK
        if self.per_person and delivery_id is not None:
            return self._tag_signer.sign(f"d{int(delivery_id)}")
        # Random (linked to nothing), signed (nobody can make up messages to inflate counts).
        return self._tag_signer.sign(self._random_tag("r"))

    def applause(self, user_id: int | None) -> str:
        if user_id is None:
            return NO_APPLAUSE
        return self._applause.make(user_id)
