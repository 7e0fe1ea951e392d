"""The eCRF application: `create_app` builds it."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, g, request
from flask_login import current_user

from config import BASE_DIR, CONFIGS, instance_secret_key
from ecrf.extensions import bootstrap, csrf, db, login_manager, migrate
from ecrf.guards import is_api_path


def create_app(config_name: str | None = None, overrides: dict | None = None) -> Flask:
    """Build the app from a config class (ECRF_CONFIG, default development) plus `overrides`."""
    name = config_name or os.environ.get("ECRF_CONFIG", "development")
    app = Flask(__name__)
    app.config.from_object(CONFIGS[name])
    if os.environ.get("SECRET_KEY", "").strip():
        app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    app.config.update(overrides or {})
    app.instance_path = app.config["ECRF_INSTANCE_DIR"]
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config["SECRET_KEY"] = _secret_key(name, app.config.get("SECRET_KEY"), Path(app.instance_path))

    from ecrf import effects, models  # noqa: F401  (models: every table in the metadata)
    from ecrf.audit import trail

    trail.install()
    effects.connect_receivers()  # what follows a write (flags, deviations, end of follow-up): one place

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    bootstrap.init_app(app)
    _register_url_converters(app)
    _register_blueprints(app)
    _register_cli(app)
    _register_request_hooks(app)
    _register_template_helpers(app)
    _report_protocol_files(app)
    return app


def _report_protocol_files(app: Flask) -> None:
    """At start, warn of each protocol file that differs from its study's loaded version (naming the file). The app
    serves the loaded version, whole, until `flask ecrf load-protocols` loads the file; nothing is half applied.
    Skipped on a database not yet migrated, or when ECRF_CHECK_PROTOCOLS_AT_START is off (tests)."""
    if not app.config.get("ECRF_CHECK_PROTOCOLS_AT_START"):
        return
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from ecrf.protocols import file_changes

    with app.app_context():
        try:
            if not inspect(db.engine).has_table("protocol_versions"):
                return
            changes = file_changes()
        except SQLAlchemyError as error:
            app.logger.warning("protocol files not compared with the loaded versions: the database cannot be read (%s)", error)
            return
        finally:
            db.session.remove()
    for change in changes:
        app.logger.warning("%s", change.message())


#: The shortest SECRET_KEY production accepts: a short key can be guessed, which is as bad as a known one.
MIN_SECRET_KEY_LENGTH = 32
_MAKE_A_KEY = "e.g. export SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"


def _secret_key(config_name: str, configured: str | None, instance_dir: Path) -> str:
    """The configured key (the environment's SECRET_KEY, the testing class's, or an override); else production refuses
    to start and any other configuration uses the installation's own random key file."""
    if configured and configured.strip():
        if config_name == "production" and len(configured.strip()) < MIN_SECRET_KEY_LENGTH:
            raise RuntimeError(f"SECRET_KEY is too short: production needs at least {MIN_SECRET_KEY_LENGTH} random characters, {_MAKE_A_KEY}")
        return configured
    if config_name == "production":
        raise RuntimeError(
            f"SECRET_KEY is not set: the production configuration refuses to start without it. Set it in the environment to a long random value, {_MAKE_A_KEY}"
        )
    return instance_secret_key(instance_dir)


def _register_url_converters(app: Flask) -> None:
    from ecrf.guards import IntegerConverter

    app.url_map.converters["int"] = IntegerConverter  # before any rule is added: every <int:...> is a database id, 1 to 2**63 - 1


def _register_blueprints(app: Flask) -> None:
    from ecrf.admin.views import bp as admin_bp
    from ecrf.api.limits import init_limits
    from ecrf.api.views import bp as api_bp
    from ecrf.audit.views import bp as audit_bp
    from ecrf.auth.views import bp as auth_bp
    from ecrf.crfs.views import bp as crfs_bp
    from ecrf.exports.views import bp as exports_bp
    from ecrf.queries.views import bp as queries_bp
    from ecrf.safety.views import bp as safety_bp
    from ecrf.screening.views import bp as screening_bp
    from ecrf.studies.views import bp as studies_bp
    from ecrf.subjects.views import bp as subjects_bp
    from ecrf.visits.views import bp as visits_bp
    from ecrf.worklist.views import bp as worklist_bp

    for blueprint in (auth_bp, worklist_bp, studies_bp, subjects_bp, visits_bp, crfs_bp, screening_bp, queries_bp, audit_bp, safety_bp, exports_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_bp)
    init_limits(app)  # the API's per-token rate limits (Flask-Limiter's hook runs before the blueprint's token check)


def _register_cli(app: Flask) -> None:
    from ecrf.cli import ecrf_cli

    app.cli.add_command(ecrf_cli)


#: Endpoints reachable without logging in (the API's are reached with a token instead: `ecrf.api.blueprint`).
PUBLIC_ENDPOINTS = {"auth.login", "auth.forgot_password", "auth.reset_password", "static", "bootstrap.static"}


def _browser_hook(hook):
    """`hook` for browser requests only: the API authenticates each request by its token, not by a session."""

    def run():
        return None if is_api_path(request.path) else hook()

    run.__name__ = hook.__name__
    return run


def _register_request_hooks(app: Flask) -> None:
    from ecrf.audit.trail import set_actor
    from ecrf.auth.views import end_idle_session, require_own_password

    app.before_request(_browser_hook(end_idle_session))  # first: an idle session ends before anything relies on the user

    @app.after_request
    def security_headers(response):
        """The configuration's security headers (CSP, nosniff, no framing, referrer; HSTS in production) on every response."""
        for name, value in app.config["ECRF_SECURITY_HEADERS"].items():
            response.headers.setdefault(name, value)
        return response

    @app.before_request
    @_browser_hook
    def require_login():
        """Every page but the log-in page needs a logged-in user, whose changes the audit trail records."""
        authenticated = current_user.is_authenticated
        set_actor(db.session, current_user if authenticated else None)
        if request.endpoint not in PUBLIC_ENDPOINTS and not authenticated:
            return login_manager.unauthorized()
        return None

    app.before_request(_browser_hook(require_own_password))  # after the log-in check: a one-time password is replaced first

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
        for name in ("_ecrf_grants", "_login_user", "csrf_token", "_ecrf_protocol_digests", "_ecrf_api_token", "api_token", "_ecrf_api_body"):
            g.pop(name, None)

    from ecrf.error_pages import register_error_pages

    register_error_pages(app)  # also the first before_request hook: control characters in the request are refused


def _register_template_helpers(app: Flask) -> None:
    from ecrf.access import Action, can
    from ecrf.clock import to_local
    from ecrf.web import form_key_field, input_kind

    @app.context_processor
    def access_helpers():
        def arm_label(subject) -> str:
            """The subject's arm, or why it is not shown."""
            if not can(current_user, Action.SEE_ARM, subject.study_id, subject.site_id):
                return "blinded"
            return subject.arm.label if subject.arm else "not yet randomized"

        return {"arm_label": arm_label}

    app.add_template_filter(to_local, "local")
    app.add_template_global(form_key_field)
    app.add_template_global(input_kind)
