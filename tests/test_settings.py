"""Settings come from the environment; a bad value stops start-up with one line naming it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'q': settings.Q_CLUSTER, 'cache': settings.CACHES['default']['BACKEND'], "
    "'db': settings.DATABASES['default']['ENGINE'], 'debug': settings.DEBUG, "
    "'secret': settings.SECRET_KEY, 'transport': settings.SMS_TRANSPORT, "
    "'conn_max_age': settings.DATABASES['default'].get('CONN_MAX_AGE')}))"
)


def start(env_overrides, base_env):
    env = {k: v for k, v in base_env.items() if k not in ("DATABASE_URL", "DEBUG", "SECRET_KEY")}
    env.update({"DJANGO_SETTINGS_MODULE": "pushconsole.settings", **env_overrides})
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "variable, value, extra",
    [
        ("DATABASE_URL", "mysql://root@localhost/x", {}),
        ("DEBUG", "perhaps", {}),
        ("SECRET_KEY", "", {"DEBUG": "false", "FIELD_ENCRYPTION_KEYS": "x", "ALLOWED_HOSTS": "a"}),
        ("FIELD_ENCRYPTION_KEYS", "not-a-fernet-key", {}),
        ("SMS_TRANSPORT", "carrier-pigeon", {}),
        ("TENCENTCLOUD_SMS_ENDPOINT", "ftp://sms.tencentcloudapi.com", {}),
        ("REDIS_URL", "memcached://127.0.0.1", {}),
        ("Q_WORKERS", "many", {}),
        ("FANOUT_CHUNK", "0", {}),
        ("SECRET_KEY_FILE", "/nonexistent/secret", {}),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_it(subprocess_env, variable, value, extra):
    result = start({variable: value, **extra}, subprocess_env)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"pushconsole: configuration error: {variable}")


def test_with_nothing_set_it_runs_for_a_developer(subprocess_env):
    result = start({}, subprocess_env)

    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["debug"] is True
    assert got["db"] == "django.db.backends.sqlite3"
    assert got["transport"] == "local"
    assert got["q"]["orm"] == "default"
    assert "redis" not in got["q"]


def test_task_cluster_settings_avoid_the_known_pitfalls(subprocess_env):
    got = json.loads(start({}, subprocess_env).stdout)["q"]

    assert got["retry"] > got["timeout"] * 2
    assert got["save_limit"] <= 0
    assert got["max_attempts"] >= 1
    assert got["catch_up"] is False


def test_production_parts_switch_on_from_the_environment(subprocess_env, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s" * 50 + "\n")
    result = start(
        {
            "DEBUG": "false",
            "SECRET_KEY_FILE": str(secret_file),
            "FIELD_ENCRYPTION_KEYS": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
            "ALLOWED_HOSTS": "push.example.com",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/pushconsole",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "SMS_TRANSPORT": "tencent",
        },
        subprocess_env,
    )

    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["secret"] == "s" * 50
    assert got["db"] == "django.db.backends.postgresql" and got["conn_max_age"] > 0
    assert got["q"]["redis"] == "redis://127.0.0.1:6379/0" and "orm" not in got["q"]
    assert got["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert got["transport"] == "tencent"
