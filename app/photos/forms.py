"""The profile page's photo form (removing is a one-button form: ui.post_button)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired

ACCEPT = "image/jpeg,image/png,image/webp,image/gif"


class PhotoForm(FlaskForm):
    photo = FileField("Choose a photo", validators=[FileRequired("Choose a photo to upload.")])
