"""The comment box and the removal confirmation (CSRF from FlaskForm).

The form only carries what was typed: the rules (length, empty, duplicates) live in
`app.comments.services`, so the same messages apply to every caller.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField

from app.comments.services import MAX_LENGTH
from app.text import clean_text


class CommentField(TextAreaField):
    """The comment as it will be stored (app.text): a refused one is shown again without the
    invisible characters that were never going to be kept."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data:
            self.data = clean_text(self.data, multiline=True)


class CommentForm(FlaskForm):
    comment = CommentField(
        "Add a comment", render_kw={"maxlength": MAX_LENGTH, "rows": 3, "required": True}
    )


class RemoveForm(FlaskForm):
    """Just the CSRF token, for the removal confirmation."""
