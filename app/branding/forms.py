"""The branding page's forms: the logo (a file; removing is a one-button form) and the
colour, footer and email layout settings. Field names are the setting keys, so the service's
refusals land on their fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import BooleanField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import InputRequired
from wtforms.validators import Length

from app.branding.services import FORM_KEYS
from app.settings import BRAND_FOOTER_MAX
from app.settings import DEFAULT_ACCENT
from app.web.fields import BoundedIntegerField


class LogoForm(FlaskForm):
    logo = FileField("Choose a logo", validators=[FileRequired("Choose a logo to upload.")])


class BrandingForm(FlaskForm):
    brand_accent = StringField(
        "Accent colour",
        validators=[InputRequired(f"Enter a colour, e.g. {DEFAULT_ACCENT}."), Length(max=32)],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"},
    )
    # The browser counts down from the limit (maxlength); the form takes more, because the
    # setting's rule counts after cleaning (CRLF, spaces) and says by how much it is over.
    brand_footer = TextAreaField(
        "Footer text",
        validators=[Length(max=BRAND_FOOTER_MAX * 4)],
        render_kw={"maxlength": BRAND_FOOTER_MAX},
    )
    teaser_threshold = BoundedIntegerField(
        "Full stories in the email up to", validators=[InputRequired("Enter a number of stories.")]
    )
    embed_images = BooleanField("Embed cover pictures in the email")

    def values(self) -> dict:
        return {key: self[key].data for key in FORM_KEYS}
