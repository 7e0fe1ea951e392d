"""Configuration: the secret key comes from the environment, or from the installation's own random file; never a known one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from config import BASE_DIR, SECRET_KEY_FILE
from ecrf import create_app

#: What was the built-in key before: no configuration may sign sessions with it again.
OLD_KNOWN_KEY = "dev-only-secret-change-me"


def _in(folder) -> dict:
    """Overrides putting the instance folder and the database in `folder` (create_app does not connect)."""
    return {"ECRF_INSTANCE_DIR": str(folder), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'ecrf.sqlite3'}"}


def test_production_starts_with_the_secret_key_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "a-production-key-from-the-environment-0123456789")
    production = create_app("production", _in(tmp_path))
    assert production.secret_key == "a-production-key-from-the-environment-0123456789"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


@pytest.mark.parametrize("value", [None, "", "   "])
def test_production_without_a_secret_key_refuses_to_start_saying_how_to_set_one(monkeypatch, tmp_path, value):
    if value is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", value)
    with pytest.raises(RuntimeError, match=r"SECRET_KEY is not set: the production configuration refuses to start .*token_hex"):
        create_app("production", _in(tmp_path))
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_development_without_a_secret_key_makes_a_private_random_key_file_once_and_reuses_it(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app("development", _in(tmp_path))
    key_file = tmp_path / SECRET_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.secret_key == key_file.read_text().strip()
    assert len(first.secret_key) == 64 and first.secret_key != OLD_KNOWN_KEY
    assert create_app("development", _in(tmp_path)).secret_key == first.secret_key
    assert create_app("development", _in(tmp_path / "another")).secret_key != first.secret_key
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]  # no temporary file left behind


def test_development_uses_the_environments_key_when_set(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "set-by-the-operator-0123456789abcdef")
    assert create_app("development", _in(tmp_path)).secret_key == "set-by-the-operator-0123456789abcdef"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_the_testing_configuration_keeps_its_fixed_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert create_app("testing", _in(tmp_path)).secret_key == "testing-secret"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_processes_started_together_end_with_the_same_key(tmp_path):
    """The web app and the scheduler start together under `make run`: whoever writes the file first, both read one key."""
    program = "import sys; from pathlib import Path; from config import instance_secret_key; sys.stdin.read(1); print(instance_secret_key(Path(sys.argv[1])))"
    processes = [
        subprocess.Popen([sys.executable, "-c", program, str(tmp_path)], cwd=BASE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    for process in processes:  # all started and waiting: let them go at once
        process.stdin.write("x")
        process.stdin.flush()
    keys = set()
    for process in processes:
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        keys.add(output.strip())
    assert keys == {(tmp_path / SECRET_KEY_FILE).read_text().strip()}
    assert [path.name for path in tmp_path.iterdir()] == [SECRET_KEY_FILE]


def test_flask_starts_in_production_with_the_secret_key_set(tmp_path):
    env = {
        **os.environ,
        "ECRF_CONFIG": "production",
        "SECRET_KEY": "a-production-key-from-the-environment-0123456789",
        "ECRF_DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
    }
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "routes"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "queries.thread" in result.stdout


def test_flask_refuses_to_start_in_production_without_the_secret_key(tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "SECRET_KEY"}
    env.update(ECRF_CONFIG="production", ECRF_DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "routes"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_a_short_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "short-key")
    with pytest.raises(RuntimeError, match=r"SECRET_KEY is too short: production needs at least 32 random characters"):
        create_app("production", _in(tmp_path))


def test_passwords_are_hashed_with_argon2s_default_parameters_outside_tests(monkeypatch, tmp_path):
    from ecrf.auth.models import password_hasher

    monkeypatch.setenv("SECRET_KEY", "a-production-key-from-the-environment-0123456789")
    for name in ("production", "development"):
        with create_app(name, _in(tmp_path)).app_context():
            hasher = password_hasher()
            assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (3, 65536, 4)
            assert hasher.hash("x").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
