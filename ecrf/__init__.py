"""The eCRF application: `create_app` builds it."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from config import BASE_DIR, CONFIGS, INSTANCE_DIR, Config
from ecrf.extensions import bootstrap, csrf, db, login_manager, migrate


def create_app(config_name: str | None = None, overrides: dict | None = None) -> Flask:
    """Build the app from a config class (ECRF_CONFIG, default development) plus `overrides`."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    name = config_name or os.environ.get("ECRF_CONFIG", "development")
    app.config.from_object(CONFIGS[name])
    app.config.update(overrides or {})
    if name == "production" and app.config["SECRET_KEY"] == Config.SECRET_KEY:
        raise RuntimeError("SECRET_KEY must be set in the environment for the production configuration")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from ecrf import models  # noqa: F401  (every table in the metadata)
    from ecrf.audit import trail

    trail.install()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    bootstrap.init_app(app)
    _register_blueprints(app)
    _register_cli(app)
    _register_request_hooks(app)
    _register_template_helpers(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from ecrf.admin.views import bp as admin_bp
    from ecrf.auth.views import bp as auth_bp
    from ecrf.crfs.views import bp as crfs_bp
    from ecrf.screening.views import bp as screening_bp
    from ecrf.queries.views import bp as queries_bp
    from ecrf.audit.views import bp as audit_bp
    from ecrf.safety.views import bp as safety_bp
    from ecrf.studies.views import bp as studies_bp
    from ecrf.subjects.views import bp as subjects_bp
    from ecrf.visits.views import bp as visits_bp
    from ecrf.worklist.views import bp as worklist_bp

    for blueprint in (auth_bp, worklist_bp, studies_bp, subjects_bp, visits_bp, crfs_bp, screening_bp, queries_bp, audit_bp, safety_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin_bp)


def _register_cli(app: Flask) -> None:
    from ecrf.cli import ecrf_cli

    app.cli.add_command(ecrf_cli)


#: Endpoints reachable without logging in.
PUBLIC_ENDPOINTS = {"auth.login", "static", "bootstrap.static"}


def _register_request_hooks(app: Flask) -> None:
    from ecrf.auth.views import end_idle_session

    app.before_request(end_idle_session)  # first: an idle session ends before anything relies on the user

    @app.after_request
    def security_headers(response):
        """The configuration's security headers (CSP, nosniff, no framing, referrer; HSTS in production) on every response."""
        for name, value in app.config["ECRF_SECURITY_HEADERS"].items():
            response.headers.setdefault(name, value)
        return response

    @app.before_request
    def require_login():
        """Every page but the log-in page needs a logged-in user, whose changes the audit trail records."""
        from ecrf.audit.trail import set_actor

        authenticated = current_user.is_authenticated
        set_actor(db.session, current_user if authenticated else None)
        if request.endpoint not in PUBLIC_ENDPOINTS and not authenticated:
            return login_manager.unauthorized()
        return None

    @app.after_request
    def no_caching_of_clinical_pages(response):
        """Clinical pages are never kept by browsers or proxies."""
        if request.endpoint not in PUBLIC_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.teardown_request
    def forget_request_caches(_error=None):
        """What is cached on `g` lives for one request: access grants, the logged-in user, the CSRF token.
        (An app context normally ends with its request; this also holds where one outlives it, as in tests.)"""
        for name in ("_ecrf_grants", "_login_user", "csrf_token"):
            g.pop(name, None)

    @app.errorhandler(CSRFError)
    def form_expired(_error):
        """A form posted without a valid CSRF token (session ended, or a forged request)."""
        return render_template("errors/csrf.html"), 400

    for code in (403, 404, 500):
        app.register_error_handler(code, lambda error, code=code: (render_template(f"errors/{code}.html"), code))


def _register_template_helpers(app: Flask) -> None:
    from ecrf.access import Action, can
    from ecrf.clock import to_local

    @app.context_processor
    def access_helpers():
        def arm_label(subject) -> str:
            """The subject's arm, or why it is not shown."""
            if not can(current_user, Action.SEE_ARM, subject.study_id, subject.site_id):
                return "blinded"
            return subject.arm.label if subject.arm else "not yet randomized"

        def may(action: str, study_id: int, site_id: int) -> bool:
            return can(current_user, Action(action), study_id, site_id)

        return {"arm_label": arm_label, "may": may}

    app.add_template_filter(to_local, "local")
