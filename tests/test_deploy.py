"""deploy/ as a new operator uses it: the example environment loads the settings, and what the
services write lands where the systemd units let them write.

The units run as an unprivileged user with the code in /srv/pushconsole; collectstatic (run
before the web starts) and uploaded proofs need a directory of that user's, which systemd makes
from ``StateDirectory=``. The whole start, over HTTP, is .ci/prod-smoke.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
PRINT_ROOTS = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'static': str(settings.STATIC_ROOT), 'media': str(settings.MEDIA_ROOT), "
    "'debug': settings.DEBUG, 'storage': settings.STORAGES['staticfiles']['BACKEND']}))"
)


def example_environment() -> dict[str, str]:
    lines = (SYSTEMD / "pushconsole.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def load_settings(environment: dict[str, str], base_env: dict[str, str]) -> dict:
    env = {k: v for k, v in base_env.items() if not k.startswith(("DATABASE_", "DEBUG"))}
    env.update({"DJANGO_SETTINGS_MODULE": "pushconsole.settings", **environment})
    result = subprocess.run(
        [sys.executable, "-c", PRINT_ROOTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_static_and_media_roots_come_from_the_environment(subprocess_env, tmp_path):
    got = load_settings(
        {"STATIC_ROOT": str(tmp_path / "static"), "MEDIA_ROOT": str(tmp_path / "media")},
        subprocess_env,
    )

    assert got == {
        "static": str(tmp_path / "static"),
        "media": str(tmp_path / "media"),
        "debug": True,
        "storage": "django.contrib.staticfiles.storage.StaticFilesStorage",
    }


def test_with_nothing_set_they_stay_beside_the_code(subprocess_env):
    got = load_settings({}, subprocess_env)

    assert (got["static"], got["media"]) == (str(ROOT / "staticfiles"), str(ROOT / "media"))


def test_the_example_environment_starts_production_and_writes_into_the_state_directory(
    subprocess_env, tmp_path
):
    environment = example_environment()
    # The secrets the operator makes (README: Deployment); everything else as in the example.
    (tmp_path / "secret_key").write_text("k" * 50 + "\n")
    (tmp_path / "keys").write_text("ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=\n")
    environment.update(
        SECRET_KEY_FILE=str(tmp_path / "secret_key"),
        FIELD_ENCRYPTION_KEYS_FILE=str(tmp_path / "keys"),
    )

    got = load_settings(environment, subprocess_env)

    assert got["debug"] is False
    assert got["storage"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    for unit in ("pushconsole-web.service", "pushconsole-tasks@.service"):
        [state] = re.findall(r"^StateDirectory=(\S+)$", (SYSTEMD / unit).read_text(), re.M)
        for written in (got["static"], got["media"]):
            assert written.startswith(f"/var/lib/{state}/"), (unit, written)


def test_the_units_stop_the_main_process_and_let_it_stop_its_workers():
    # django-q2 deadlocks when its sentinel and workers get SIGTERM together with the main
    # process (systemd's default), and gunicorn asks for the same; .ci/prod-smoke stops both
    # this way and fails on anything left over.
    for unit in ("pushconsole-web.service", "pushconsole-tasks@.service"):
        assert re.search(r"^KillMode=mixed$", (SYSTEMD / unit).read_text(), re.M), unit
