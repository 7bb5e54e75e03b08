"""In-process signals for observers that never change an outcome (metrics, first of all).

Domain events (app/events.py) are durable, cross-process and retried: they carry what the
business must not lose. These are blinker signals, sent in the process where something just
happened and forgotten at once; a receiver must be quick and must not raise. The sender does
not know who listens (app/metrics subscribes), so the send loop stays free of metrics code.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: "edition" or "notification"; result=app.mail.backends.SendResult. Sent once per
# message the mail server answered (or failed to answer), before the outcome is recorded.
mail_answered = _signals.signal("mail-answered")

# sender: the job's name; seconds=float, failed=bool. Sent when a scheduler job's tick ends.
scheduler_job_finished = _signals.signal("scheduler-job-finished")

# sender: the outgoing integration ("chat", "webhooks"); outcome=app.outbound.Outcome.
outbound_attempted = _signals.signal("outbound-attempted")

# sender: the Flask app; scheduler_id=str (host:pid:started). Sent by `flask scheduler run` when
# its jobs start, and when it stops after a signal (not after a crash: heartbeats expire).
scheduler_started = _signals.signal("scheduler-started")
scheduler_stopped = _signals.signal("scheduler-stopped")
