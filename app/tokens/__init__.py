"""API tokens: personal access tokens (a person's scripts) and service tokens (an admin's
integrations). Scopes and what a token may do are decided in `scopes.py`; the API's guard
(app.api.auth) finds a token with `queries.api_token_for_secret`.
"""
