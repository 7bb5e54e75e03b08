"""Forms of the people import: the upload (with its options) and the apply confirmation."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms.validators import DataRequired


class UploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose the CSV file to import.")])
    create_teams = BooleanField("Create missing teams")
    deactivate_missing = BooleanField("Deactivate people who are not in the file")
    invite = BooleanField("Send invitations to new people")


class ApplyForm(FlaskForm):
    sha256 = HiddenField(validators=[DataRequired()])
    digest = HiddenField(validators=[DataRequired()])
    confirm_deactivate = BooleanField("Yes, deactivate them")
