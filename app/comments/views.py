"""Comment pages: post a comment from the story's page, remove one (after a confirmation)."""

from __future__ import annotations

from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user

from app.auth.access import login_required
from app.comments import bp
from app.comments import services
from app.comments.forms import CommentForm
from app.comments.forms import RemoveForm
from app.comments.services import CommentError
from app.extensions import db
from app.extensions import limiter
from app.models import Comment
from app.reading import views as reading_views
from app.web.errors import form_errors


def _per_person() -> str:
    """Rate-limit per signed-in person: a whole office may share one IP."""
    return f"user:{current_user.id}" if current_user.is_authenticated else "anonymous"


def _comments_url(story_id: int, comment_id: int | None = None) -> str:
    anchor = f"comment-{comment_id}" if comment_id else "comments"
    return url_for("reading.story", story_id=story_id, _anchor=anchor)


@bp.route("/stories/<int:story_id>/comments", methods=["POST"])
@limiter.limit("10 per minute", key_func=_per_person)
@login_required
def post(story_id: int):
    """Post, then show the comment in place; a refused one goes back to the story's page with
    the message on the comment box and the text kept."""
    form = CommentForm()
    if form.validate_on_submit():
        with form_errors(form.comment, CommentError):
            comment = services.post_comment(
                story_id, current_user._get_current_object(), form.comment.data
            )
            db.session.commit()
            flash("Your comment is posted.", "success")
            return redirect(_comments_url(story_id, comment.id), code=303)
    return reading_views.story_page(story_id, comment_form=form)


@bp.route("/comments/<int:comment_id>/remove", methods=["GET", "POST"])
@login_required
def remove(comment_id: int):
    """GET asks first (works without JavaScript); POST removes."""
    comment = db.get_or_404(Comment, comment_id)
    me = current_user._get_current_object()
    services.require_may_remove(me, comment)
    back = _comments_url(comment.story_id)
    if comment.is_removed:
        flash("That comment was already removed.", "info")
        return redirect(back, code=303)
    form = RemoveForm()
    if form.validate_on_submit():
        services.remove_comment(comment, me)
        db.session.commit()
        flash("The comment was removed.", "success")
        return redirect(back, code=303)
    return render_template("comments/confirm_remove.html", comment=comment, form=form, back=back)
