"""The HTTP half of .ci/prod-smoke: use a production start the way its users do.

It talks to gunicorn as the TLS-terminating proxy in front of it would (deploy/nginx: Host
push.example.com, X-Forwarded-Proto: https, X-Forwarded-For), and keeps cookies itself:
production cookies are Secure, and a client library would not send them back over this plain
loopback connection. Every check says what it expected; the first failure stops the run with
exit status 1.
"""

import argparse
import base64
import concurrent.futures
import json
import sys
import time
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests

HOST = "push.example.com"  # ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS of the example environment
ORIGIN = f"https://{HOST}"
CLIENT_ADDRESS = "203.0.113.7"  # what the proxy appends to X-Forwarded-For (TRUSTED_PROXY_COUNT=1)
TIMEOUT = 30


class Failed(Exception):
    pass


def check(condition, message: str) -> None:
    if not condition:
        raise Failed(message)


class Page(HTMLParser):
    """The stylesheets and scripts a page links, and the hidden inputs of its forms."""

    def __init__(self, html: str):
        super().__init__()
        self.assets, self.hidden = [], {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"):
            self.assets.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.assets.append(a["src"])
        elif tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.hidden[a["name"]] = a.get("value") or ""


class Browser:
    """A browser behind the proxy: HTTPS as far as the server can tell, cookies kept by hand."""

    def __init__(self, base: str):
        self.base, self.cookies, self.secure_cookies = base, {}, set()
        self.http = requests.Session()
        self.http.trust_env = False  # loopback: never through a proxy from the environment

    def request(self, method: str, path: str, *, base: str = "", **kwargs) -> requests.Response:
        headers = {
            "Host": HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": CLIENT_ADDRESS,
            # As nginx talks to its upstream by default; a kept-alive connection that gunicorn
            # closes after 2 idle seconds could be reset under a request sent at that moment.
            "Connection": "close",
            **kwargs.pop("headers", {}),
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.http.request(
            method,
            (base or self.base) + path,
            headers=headers,
            allow_redirects=False,
            timeout=TIMEOUT,
            **kwargs,
        )
        for cookie in response.cookies:
            self.cookies[cookie.name] = cookie.value
            if cookie.secure:
                self.secure_cookies.add(cookie.name)
        return response

    def get_page(self, path: str, what: str) -> requests.Response:
        """GET a page following redirects inside the site; 200 and every linked asset 200."""
        for _ in range(5):
            response = self.request("GET", path)
            if response.status_code not in (301, 302, 303, 307, 308):
                break
            path = local_path(response.headers["Location"], path)
        check(response.status_code == 200, f"{what} ({path}) answered {response.status_code}")
        page = Page(response.text)
        check(page.assets, f"{what} ({path}) links no stylesheet or script")
        for url in page.assets:
            asset = self.request("GET", local_path(url, path))
            check(
                asset.status_code == 200 and asset.content,
                f"{what} links {url}, which answered {asset.status_code}",
            )
        print(f"  ok  {what}: {path} 200, {len(page.assets)} linked assets 200")
        return response


def local_path(location: str, current: str) -> str:
    parts = urlsplit(urljoin(f"{ORIGIN}{current}", location))
    check(parts.netloc == HOST, f"a redirect or link leaves the site: {location}")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def running(pid: int) -> bool:
    """Whether the process lives (a zombie has exited)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_for_server(browser: Browser, pids: list[int], deadline: float, path="/healthz") -> None:
    while True:
        for pid in pids:
            check(running(pid), f"process {pid} (web, tasks or poll) exited during start-up")
        try:
            browser.request("GET", path)
            return
        except requests.ConnectionError:
            check(time.time() < deadline, f"{browser.base}{path} did not answer in time")
            time.sleep(0.5)


def run(args) -> None:
    creds = json.loads(open(args.credentials).read().strip().splitlines()[-1])
    base = f"http://127.0.0.1:{args.port}"
    browser = Browser(base)
    wait_for_server(browser, [args.web_pid, args.tasks_pid, args.poll_pid], time.time() + 60)
    wait_for_server(
        Browser(f"http://127.0.0.1:{args.poll_port}"),
        [args.poll_pid],
        time.time() + 30,
        "/healthz/poll",
    )

    # Production settings are on: plain HTTP is sent to HTTPS, HSTS on HTTPS answers.
    plain = browser.http.get(
        f"{base}/login/",
        headers={"Host": HOST, "Connection": "close"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    check(
        plain.status_code == 301 and plain.headers.get("Location", "").startswith(ORIGIN),
        f"plain HTTP was answered {plain.status_code}, not a redirect to HTTPS",
    )

    login = browser.get_page("/login/", "the login page")
    check("Strict-Transport-Security" in login.headers, "no HSTS header on HTTPS")
    token = Page(login.text).hidden.get("csrfmiddlewaretoken")
    check(token and "csrftoken" in browser.cookies, "the login form has no CSRF token")
    answer = browser.request(
        "POST",
        "/login/",
        data={
            "username": creds["username"],
            "password": creds["password"],
            "csrfmiddlewaretoken": token,
            "next": "",
        },
        headers={"Origin": ORIGIN, "Referer": f"{ORIGIN}/login/"},
    )
    check(
        answer.status_code == 302 and "sessionid" in browser.cookies,
        f"logging in answered {answer.status_code} without a session: {answer.text[:300]}",
    )
    check(
        {"sessionid", "csrftoken"} <= browser.secure_cookies,
        f"cookies without the Secure flag: {set(browser.cookies) - browser.secure_cookies}",
    )
    print(f"  ok  logged in as {creds['username']} through the login form (CSRF, Secure cookies)")

    account = creds["account"]
    dashboard = browser.get_page("/", "the dashboard")
    check(
        f"/a/{account}/" in dashboard.url or "Smoke Co" in dashboard.text,
        "the dashboard is not the account's",
    )
    browser.get_page(f"/a/{account}/push/pushes/", "the push list")
    browser.get_page(f"/a/{account}/sms/records/", "the SMS records")

    # A phone registers through the SDK API and a server pushes to it through the TPNS API.
    sdk = {"X-Access-Id": str(creds["access_id"]), "X-Access-Key": creds["access_key"]}
    device = browser.request(
        "POST",
        "/sdk/v1/register",
        headers=sdk,
        json={
            "platform": "android",
            "app_version": "1.0",
            "sdk_version": "1.0",
            "os_version": "14",
            "notifications_enabled": True,
        },
    )
    check(device.status_code == 201, f"SDK register answered {device.status_code}: {device.text}")
    device_token = device.json()["token"]
    # The phone waits for it on the long-poll server (where nginx sends /sdk/v1/messages)
    # before the push is sent: the push's commit must wake it.
    poll_base = f"http://127.0.0.1:{args.poll_port}"
    poller = concurrent.futures.ThreadPoolExecutor(1)
    waiting = poller.submit(
        Browser(poll_base).request,
        "GET",
        "/sdk/v1/messages",
        headers=sdk,
        params={"token": device_token, "after": 0, "wait": 25},
    )
    time.sleep(1)  # the poll is in before the push
    basic = base64.b64encode(f"{creds['access_id']}:{creds['secret_key']}".encode()).decode()
    push = browser.request(
        "POST",
        "/v3/push/app",
        headers={"Authorization": f"Basic {basic}"},
        json={
            "audience_type": "token_list",
            "token_list": [device_token],
            "message_type": "notify",
            "message": {"title": "Smoke", "content": "The production start works"},
        },
    )
    result = (
        push.json() if push.headers.get("Content-Type", "").startswith("application/json") else {}
    )
    check(
        push.status_code == 200 and result.get("ret_code") == 0,
        f"the TPNS push answered {push.status_code}: {push.text[:300]}",
    )
    print(f"  ok  TPNS push accepted: push_id {result.get('push_id')}")

    # The push's commit wakes the waiting phone: it receives it before its 25 s are up.
    inbox = waiting.result(40)
    got = inbox.json().get("messages", []) if inbox.status_code == 200 else []
    check(
        [m["push_id"] for m in got] == [str(result.get("push_id"))],
        f"the waiting device did not receive the push: {inbox.status_code} {inbox.text[:300]}",
    )
    poller.shutdown()
    print("  ok  the long-poll server woke the waiting device with the push")

    health = browser.request("GET", "/healthz")
    check(
        health.status_code == 200 and health.json().get("ok") is True,
        f"/healthz answered {health.status_code}: {health.text}",
    )
    check(
        health.json().get("poll") == "ok", f"/healthz did not check the poll server: {health.text}"
    )
    # The minute sweep ran in the task cluster: /healthz?require=sweep, what supervisors ask.
    while True:
        health = browser.request("GET", "/healthz?require=sweep")
        if health.status_code == 200 or time.time() > args.sweep_deadline:
            break
        time.sleep(2)
    check(
        health.status_code == 200 and health.json().get("ok") is True,
        f"/healthz?require=sweep answered {health.status_code}: {health.text} "
        "(the task cluster did not run the minute sweep)",
    )
    print(f"  ok  /healthz?require=sweep 200: {health.text}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--sweep-deadline", type=float, required=True)
    parser.add_argument("--web-pid", type=int, required=True)
    parser.add_argument("--tasks-pid", type=int, required=True)
    parser.add_argument("--poll-port", type=int, required=True)
    parser.add_argument("--poll-pid", type=int, required=True)
    try:
        run(parser.parse_args())
    except Failed as exc:
        print(f"prod-smoke: FAIL: {exc}", file=sys.stderr)
        return 1
    except (requests.RequestException, ValueError, KeyError) as exc:
        print(f"prod-smoke: FAIL: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
