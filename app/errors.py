"""Domain errors raised by services; views turn them into clear messages and status codes.

Services never import Flask's `abort`: they raise one of these, and `register_error_handlers` (or
the calling view) maps them to a response. That keeps services callable from the CLI and scheduler.
"""


class DomainError(Exception):
    """Base class: something the user asked for cannot be done; the message is user-facing."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ValidationError(DomainError):
    """Input is well-formed but breaks a rule (length, range, required field). `field` names
    the input at fault when a caller maps errors to its own fields (an API's payload paths)."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class PermissionDenied(DomainError):
    """The actor may not do this to this object (e.g. editing someone else's story)."""

    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """The object changed under the actor (stale version) or is in the wrong state."""

    status_code = 409


class IllegalTransition(Conflict):
    """A state-machine transition that is not allowed from the current status."""


class TokenError(DomainError):
    """A signed link is forged, expired or already used."""

    status_code = 400
