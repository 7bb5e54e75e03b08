"""Forms of the provisioning admin pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms import SubmitField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from app.scim.services import TOKEN_NAME_MAX


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired("Name the token, e.g. after the identity provider."),
                    Length(max=TOKEN_NAME_MAX)],
        description="Who will use it, e.g. “Okta production”.",
    )
    submit = SubmitField("Create token")


class ConfirmRevokeForm(FlaskForm):
    submit = SubmitField("Revoke token")
