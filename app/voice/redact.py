"""Customer personal data out of a verbatim's text, before anyone sees it (interim version)."""

from __future__ import annotations

import re
from dataclasses import dataclass

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass
class Redactor:
    patterns: list[dict[str, str]]

    def redact(self, text: str) -> tuple[str, int]:
        count = 0

        def token(label: str):
            def replace(_match: re.Match) -> str:
                nonlocal count
                count += 1
                return f"[{label}]"

            return replace

        text = EMAIL.sub(token("email"), text)
        for item in self.patterns:
            text = re.sub(item["pattern"], token(item["label"]), text)
        return text, count


def current_redactor() -> Redactor:
    from app.settings import get_setting

    return Redactor(get_setting("voice_redact_patterns"))
