"""The token API under /api/v1: the same services, access checks and validation as the browser (see views.py)."""
