"""The JSON API, /api/v1/: bearer tokens, scopes, keyset pages, ETags, RFC 9457 problems.

Each resource module declares its operations with `app.api.routing.operation`, which registers
the route and records the operation (app.api.spec) from which the OpenAPI document is built:
the request and response models (pydantic) are declared once and used both to validate and to
describe. `views.py` imports the resource modules and holds the blueprint the factory registers.
"""
