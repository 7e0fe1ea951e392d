"""The API's documentation page: Swagger UI on the app's own OpenAPI document, its files served by the app."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import jsonify, render_template, send_from_directory

from ecrf.api.blueprint import bp
from ecrf.api.spec import API_PREFIX, spec

#: Swagger UI's files as the swagger-ui-py package ships them (pinned in requirements.txt); no CDN.
SWAGGER_UI_FILES = Path(swagger_ui.__file__).parent / "static"
#: The files the page loads: nothing else of that folder is served.
SERVED = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of the API, generated from the routes' models."""
    return jsonify(spec.spec)


@bp.get("/docs")
def docs():
    """The interactive documentation of the API."""
    return render_template("api/docs.html", spec_url=f"{API_PREFIX}/openapi.json")


@bp.get("/docs/assets/<path:filename>")
def swagger_static(filename: str):
    """One of Swagger UI's files."""
    if filename not in SERVED:
        return "", 404
    return send_from_directory(SWAGGER_UI_FILES, filename, max_age=3600)
