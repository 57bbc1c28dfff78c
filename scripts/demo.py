"""The person's side, end to end, on a fresh machine; see scripts/demo."""

import argparse
import http.cookiejar
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser

import boto3
import botocore.exceptions
import pexpect
import pyotp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The sign-in accounts of the local identity provider (tests/oidc/provider.mjs).
TEST_ACCOUNTS = ("developer@example.com", "admin@example.com")
CLIENT_ID = "onboarding-cli"
# Who may onboard: the domain the provider's accounts are at, which their verified email claim carries.
ELIGIBLE_EMAIL_DOMAINS = '["example.com"]'


def step(text):
    print(f"\n==> {text}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"nothing listens on port {port} after {seconds}s")


def without_aws_settings(environ):
    return {k: v for k, v in environ.items() if not k.startswith("AWS_")}


def emulator_env(port):
    """The environment of an emulator run: none of the shell's AWS settings (keys, profile, SSO, config and
    credentials files, endpoints) reaches moto, boto3 or the functions, so nothing can reach a real account."""
    env = without_aws_settings(os.environ)
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def confirm_account(region):
    """--aws: say which account the shell's credentials reach, and change nothing without a yes."""
    try:
        identity = boto3.client("sts", region_name=region).get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        sys.exit(f"--aws: the shell's AWS credentials do not work: {error}")
    step(f"--aws: AWS account {identity['Account']}, as {identity['Arn']}")
    print("This creates a real IAM user with an access key and an MFA device, the catalog role and its grant\n"
          "group in that account, through the functions running here.")
    try:
        answer = input("Continue? [y/N] ")
    except EOFError:
        print()
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        sys.exit("nothing was changed")


def start_listening(command, env, cwd=ROOT):
    """Starts a server that prints `listening <url>` on stdout once it serves; returns it and the URL."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    for line in process.stdout:
        if line.startswith("listening "):
            return process, line.split(" ", 1)[1].strip()
    sys.exit(f"{command[0]} stopped before it listened")


def sign_in_as_the_browser(url, username):
    """The browser's part of the sign-in: the provider's page signs in the test account named by login_hint
    (tests/oidc/provider.mjs), then its redirects lead back to the CLI's loopback address."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{url}&login_hint={urllib.parse.quote(username)}", timeout=60) as page:
        page.read()


def wait_for_next_window(after):
    """STS and IAM refuse a TOTP code used before: against AWS, wait for the 30 s window after `after`."""
    time.sleep(max(0.0, (int(after // 30) + 1) * 30 - time.time() + 1))


# The functions the demo calls, each with an event it refuses before any AWS call (no identity; a run id
# that is not one): the answer does not matter, only that the function was built and answers.
_NO_IDENTITY = {
    "version": "2.0", "routeKey": "GET /users/{username}", "rawPath": "/users/warm-up", "rawQueryString": "",
    "headers": {}, "pathParameters": {"username": "warm-up"},
    "requestContext": {"accountId": "123456789012", "apiId": "local", "http": {
        "method": "GET", "path": "/users/warm-up", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
        "userAgent": "scripts/demo"}, "requestId": "warm-up", "routeKey": "GET /users/{username}",
        "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0},
    "isBase64Encoded": False,
}
WARM_UP = {
    "status": _NO_IDENTITY,
    "onboard": _NO_IDENTITY,
    "enroll-mfa": _NO_IDENTITY,
    "drift-check": {"run_id": "not a run id"},
}
# A cold build of the AWS SDK takes about 5 minutes on 2 cores; this is for a machine much busier than that.
WARM_UP_LIMIT_SECONDS = 45 * 60


def last_compiling_line(log_path):
    """What cargo, running under `cargo lambda watch`, is compiling now, from the watch's log."""
    try:
        with open(log_path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip().startswith(("Compiling", "Building"))]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def warm_up(port, log_path):
    """`cargo lambda watch` builds a function on its first invocation, with a build of its own (one binary of
    one package, not the feature set of a workspace build): a person's first request must never be the one
    that waits for it. Each function is invoked once here, with progress, before anyone signs in."""
    for function, event in WARM_UP.items():
        started = time.time()
        done = threading.Event()

        def progress(function=function, started=started):
            while not done.wait(15):
                now = last_compiling_line(log_path)
                print(f"    {function}: {time.time() - started:.0f} s{', ' + now if now else ''}", flush=True)

        ticker = threading.Thread(target=progress, daemon=True)
        ticker.start()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations",
            data=json.dumps(event).encode(), method="POST", headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=WARM_UP_LIMIT_SECONDS) as answer:
                answer.read()
        except urllib.error.HTTPError as answer:
            # A function error is an answer: the function was built and ran.
            answer.read()
        except (urllib.error.URLError, OSError) as error:
            done.set()
            with open(log_path, errors="replace") as f:
                tail = f.readlines()[-30:]
            sys.exit(f"{function} did not start under `cargo lambda watch`: {error}\n{''.join(tail)}")
        finally:
            done.set()
            ticker.join()
        print(f"    {function}: ready ({time.time() - started:.0f} s)", flush=True)


def invoke_raw(function, event, port):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(event, f)
    out = subprocess.run(
        ["cargo", "lambda", "invoke", function, "--data-file", f.name, "-A", "127.0.0.1", "-P", str(port),
         "--output-format", "json"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    os.unlink(f.name)
    return json.loads(out.stdout)


MEMBER_ACCOUNT = "111122223333"
# --member-account: the one self-service role lives in another account (events/drift-check-member-account.json
# names the same one). moto switches accounts on AssumeRole, as the functions reach a spoke role.
MEMBER_ACCOUNT_CATALOG = json.dumps([{
    "name": "WorkloadDeployer", "self_service": True, "account": MEMBER_ACCOUNT,
    "inline_policy": {"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}]},
}], separators=(",", ":"))


def serve_the_page(page_url):
    """Waits while a person tries the page; the services stop with Ctrl-C."""
    step(f"the page: open {page_url} in a browser on this machine")
    print(f"Sign in as {' or '.join(TEST_ACCOUNTS)} (the second is an admin), password "
          f"{os.environ.get('OIDC_TEST_PASSWORD', 'onboarding-test-password')}.")
    print("For the MFA step, an authenticator app on your phone can scan the QR code; or type the secret shown "
          "beside it into:  .venv/bin/python -c 'import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).now())' <secret>")
    print("Ctrl-C stops the emulator, the provider, the functions and local-api.")
    webbrowser.open(page_url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print()


def main():
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="A person signs in, is set up by `onboarding setup` and uses the role through the AWS CLI, "
                    "against the real Lambda functions and a local IAM emulator unless --aws is given.")
    parser.add_argument("--aws", action="store_true",
                        help="run against the AWS account of the shell's credentials (it is shown, and confirmed first)")
    parser.add_argument("--member-account", action="store_true",
                        help="grant a role that lives in another account of the organisation (a second moto "
                             "account, reached through its spoke role) instead of one in the hub")
    parser.add_argument("--browser", action="store_true",
                        help="instead of the CLI, serve the page (GET /) for a person to try in a browser: print its "
                             "URL and the test accounts, open it if this machine has a browser, run until Ctrl-C")
    parser.add_argument("username", nargs="?", default=TEST_ACCOUNTS[0], choices=TEST_ACCOUNTS,
                        help="an account of the local identity provider")
    args = parser.parse_args()
    if args.aws and args.member_account:
        parser.error("--member-account runs on the local emulator only: a real member account needs spoke.yaml")
    username = args.username
    real_aws = args.aws
    started = time.time()
    processes = []
    temporary_files = []
    try:
        if real_aws:
            env = dict(os.environ)
            env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1"))
            confirm_account(env["AWS_REGION"])
        else:
            port = free_port()
            step(f"local emulator (AWS credentials in the shell are not used; --aws to use them): "
                 f"starting moto_server on 127.0.0.1:{port}")
            env = emulator_env(port)
            # boto3 in this process reads os.environ too: nothing here may see the shell's profile.
            os.environ.clear()
            os.environ.update(env)
            processes.append(subprocess.Popen(
                ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                env={**env, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
            wait_for_port(port, 30)

        # Known before local-api starts: the provider registers the page's URL (<api>/) as a redirect URI.
        api_port = free_port()
        page_url = f"http://127.0.0.1:{api_port}/"
        provider, issuer = start_listening(["node", "tests/oidc/provider.mjs", "--port", "0"],
                                           {**without_aws_settings(env), "OIDC_PAGE_REDIRECT_URIS": page_url})
        processes.append(provider)
        step(f"identity provider: node's oidc-provider (tests/oidc/provider.mjs) at {issuer}")

        step("building local-api and the onboarding CLI (the first run compiles)")
        subprocess.run(["cargo", "build", "--quiet", "--bins", "-p", "local-api", "-p", "onboarding-cli"],
                       check=True, cwd=ROOT, env=env)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))

        invoke_port = free_port()
        step(f"starting the functions with `cargo lambda watch` on port {invoke_port}")
        # A file readable by this user only, not --env-var: keys do not belong in a command line `ps` shows.
        fd, env_file = tempfile.mkstemp(suffix=".env")
        temporary_files.append(env_file)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in env.items() if k.startswith("AWS_") or k == "RUST_LOG")
            f.write(f"ELIGIBLE_EMAIL_DOMAINS='{ELIGIBLE_EMAIL_DOMAINS}'\n")
            if args.member_account:
                # Single quotes: the value as it is, JSON's double quotes included.
                f.write(f"ROLE_CATALOG='{MEMBER_ACCOUNT_CATALOG}'\n")
        watch_log = tempfile.NamedTemporaryFile("w", prefix="onboarding-demo-watch-", suffix=".log", delete=False)
        temporary_files.append(watch_log.name)
        processes.append(subprocess.Popen(
            ["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(invoke_port), "--env-file", env_file],
            env=env, cwd=ROOT, stdout=watch_log, stderr=subprocess.STDOUT,
        ))
        wait_for_port(invoke_port, 60)
        step(f"building each function as `cargo lambda watch` runs it, by invoking it once (a cold first run "
             f"compiles the AWS SDK: minutes on 2 cores, progress every 15 s; later runs take seconds)")
        warm_up(invoke_port, watch_log.name)

        api_env = {**env, "JWT_ISSUER": issuer, "JWT_AUDIENCE": CLIENT_ID, "LISTEN_ADDR": f"127.0.0.1:{api_port}",
                   "ELIGIBLE_EMAIL_DOMAINS": ELIGIBLE_EMAIL_DOMAINS, "RUST_LOG": "warn"}
        command = [os.path.join(target, "debug", "local-api"), "--lambda-endpoint", f"http://127.0.0.1:{invoke_port}"]
        if real_aws:
            command.append("--aws")
        api, api_url = start_listening(command, api_env)
        processes.append(api)
        step(f"local-api at {api_url}: API Gateway's routes and JWT authorizer; each request invokes its "
             f"function in `cargo lambda watch`")
        if args.browser:
            serve_the_page(page_url)
            return

        with tempfile.TemporaryDirectory(prefix="onboarding-demo-home-") as home:
            # A fresh machine: its own HOME, no OS keyring, none of the shell's AWS settings.
            person = without_aws_settings(env)
            person.pop("DBUS_SESSION_BUS_ADDRESS", None)
            person.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                          XDG_STATE_HOME=os.path.join(home, ".local", "state"),
                          XDG_CACHE_HOME=os.path.join(home, ".cache"), AWS_REGION=env["AWS_REGION"],
                          AWS_DEFAULT_REGION=env["AWS_REGION"])
            # No keyring: the CLI encrypts its files with a passphrase, which a person types once or keeps
            # in their password manager; the demo gives it as the environment variable the CLI reads.
            person["ONBOARDING_FILE_PASSPHRASE"] = secrets.token_urlsafe(16)
            if not real_aws:
                person["AWS_ENDPOINT_URL"] = env["AWS_ENDPOINT_URL"]
            onboarding = os.path.join(target, "debug", "onboarding")

            step(f"a fresh machine (HOME={home}): `onboarding setup {api_url}` in a terminal, as {username}")
            setup = pexpect.spawn(onboarding, ["setup", api_url, "--no-browser"], env=person, encoding="utf-8",
                                  timeout=300, dimensions=(60, 120))
            setup.logfile_read = sys.stdout
            setup.expect(r"http://127\.0\.0\.1:\d+/\S*code_challenge\S*")
            sign_in_as_the_browser(setup.after, username)
            setup.expect(r"otpauth://\S+")
            totp = pyotp.parse_uri(setup.after)
            # The codes an authenticator app shows for this seed: two consecutive ones to enable MFA.
            now = time.time()
            setup.expect_exact("First code from your app: ")
            setup.sendline(totp.at(now))
            setup.expect_exact("Wait for the next code, and type it: ")
            setup.sendline(totp.at(now + 30))
            setup.expect_exact("Prove it works")
            if real_aws:
                wait_for_next_window(now + 30)
                proof_at = time.time()
            else:
                proof_at = now + 60
            setup.sendline(totp.at(proof_at))
            setup.expect(pexpect.EOF)
            setup.close()
            if setup.exitstatus != 0:
                sys.exit(f"onboarding setup failed (exit {setup.exitstatus})")

            with open(os.path.join(home, ".aws", "config")) as f:
                written = f.read()
            roles = re.findall(r"^\[profile (onboarding-\S+)\]$", written, re.MULTILINE)
            if not roles:
                sys.exit("setup wrote no role profile")
            role_profile = roles[0]
            aws = ["aws", "sts", "get-caller-identity", "--profile", role_profile, "--output", "json"]

            def aws_without_a_terminal(why):
                ran = subprocess.run(aws, env=person, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                     start_new_session=True)
                if ran.returncode != 0:
                    sys.exit(f"the AWS CLI failed without a terminal ({why}): {ran.stderr}")
                print(f"assumed {json.loads(ran.stdout)['Arn']}")

            step(f"the AWS CLI itself: `{' '.join(aws)}` through the written ~/.aws/config, with no terminal "
                 f"(credential_process: setup's proof code started the day's MFA session, so no code is asked)")
            aws_without_a_terminal("the day's session")

            step("`onboarding logout`, then the AWS CLI again in a terminal: the MFA code asked once, by "
                 "credential_process on that terminal")
            logout = subprocess.run([onboarding, "logout"], env=person, stdin=subprocess.DEVNULL,
                                    capture_output=True, text=True)
            if logout.returncode != 0:
                sys.exit(f"onboarding logout failed: {logout.stderr}")
            print(logout.stdout.strip())
            if real_aws:
                wait_for_next_window(proof_at)
            cli = pexpect.spawn(aws[0], aws[1:], env=person, encoding="utf-8", timeout=120)
            cli.logfile_read = sys.stdout
            cli.expect_exact("MFA code for ")
            cli.sendline(totp.now() if real_aws else totp.at(now + 90))
            cli.expect(pexpect.EOF)
            cli.close()
            if cli.exitstatus != 0:
                sys.exit(f"the AWS CLI failed (exit {cli.exitstatus})")

            step("the same command again, with no terminal at all: the cached session, no prompt")
            aws_without_a_terminal("the cached session")

            step("~/.aws/config as `onboarding setup` wrote it")
            print(written.rstrip())

        if args.member_account:
            step(f"drift-check of the member account {MEMBER_ACCOUNT}: its catalog roles, through its spoke role")
            sample = "drift-check-member-account.json"
        else:
            step("drift-check: every managed user, grant group and catalog role against its desired state")
            sample = "drift-check-scheduled.json"
        with open(os.path.join(ROOT, "events", sample)) as f:
            report = invoke_raw("drift-check", json.load(f), invoke_port)
        print(json.dumps(report["summary"], indent=2))
        for finding in report["findings"]:
            print(f"{finding['severity']:>8}  {finding['rule']}  {finding['message']}")
        step(f"done in {time.time() - started:.0f} s: signed in, set up, MFA enabled and the role used through "
             f"the AWS CLI, with no secret or code pasted anywhere")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for path in temporary_files:
            os.unlink(path)


if __name__ == "__main__":
    main()
