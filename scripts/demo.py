"""Walks the seed procedure through the real Lambda functions; see scripts/demo."""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.exceptions
import pyotp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def emulator_env(port):
    """The environment of an emulator run: none of the shell's AWS settings (keys, profile, SSO, config and
    credentials files, endpoints) reaches moto, boto3 or the functions, so nothing can reach a real account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
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


def http_event(template, claims, body, username=None):
    with open(os.path.join(ROOT, "events", template)) as f:
        event = json.load(f)
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    event["body"] = json.dumps(body)
    if username is not None:
        event["pathParameters"] = {"username": username}
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/users/{username}/mfa"
    return event


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


def invoke(function, event, port):
    response = invoke_raw(function, event, port)
    body = json.loads(response.get("body") or "{}")
    return response["statusCode"], body


def shown(body):
    """The response as printed here: the secret and the MFA seed are masked (they are the user's)."""
    masked = json.loads(json.dumps(body))
    if masked.get("access_key", {}).get("secret_access_key"):
        masked["access_key"]["secret_access_key"] = "****"
    mfa = masked.get("mfa", masked)
    if mfa.get("otpauth_uri"):
        mfa["otpauth_uri"] = mfa["otpauth_uri"].split("?")[0] + "?secret=****"
    if mfa.get("qr_code_png_base64"):
        mfa["qr_code_png_base64"] = f"<{len(mfa['qr_code_png_base64'])} base64 characters of PNG>"
    return json.dumps(masked, indent=2)


def main():
    parser = argparse.ArgumentParser(prog="scripts/demo", description="Walk the seed procedure through the real "
                                     "Lambda functions, against a local IAM emulator unless --aws is given.")
    parser.add_argument("--aws", action="store_true",
                        help="run against the AWS account of the shell's credentials (it is shown, and confirmed first)")
    parser.add_argument("username", nargs="?", default="developer@example.com")
    args = parser.parse_args()
    username = args.username
    real_aws = args.aws
    processes = []
    env_file = None
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
            # boto3 in this process reads os.environ too: the STS step must not see the shell's profile.
            os.environ.clear()
            os.environ.update(env)
            processes.append(subprocess.Popen(
                ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                env={**env, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
            wait_for_port(port, 30)

        invoke_port = free_port()
        step(f"starting the functions with `cargo lambda watch` on port {invoke_port} (the first invoke compiles)")
        # A file readable by this user only, not --env-var: keys do not belong in a command line `ps` shows.
        fd, env_file = tempfile.mkstemp(suffix=".env")
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in env.items() if k.startswith("AWS_") or k == "RUST_LOG")
        processes.append(subprocess.Popen(
            ["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(invoke_port), "--env-file", env_file],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        wait_for_port(invoke_port, 60)

        # As API Gateway's HTTP API hands claims over: every value a string.
        claims = {"email": username, "email_verified": "true", "sub": "demo"}
        step(f"POST /users as {username} (self-service): onboard")
        status, body = invoke("onboard", http_event("onboard-self-service.json", claims, {"wait_until_usable": real_aws}),
                              invoke_port)
        print(f"HTTP {status}\n{shown(body)}")
        if status != 201:
            sys.exit(f"onboarding did not create a new user (HTTP {status}); re-run with another username")
        key = body["access_key"]
        mfa = body["mfa"]
        role = body["roles"][0]

        step("computing two consecutive TOTP codes from the seed, as an authenticator app would")
        totp = pyotp.parse_uri(mfa["otpauth_uri"])
        now = time.time()
        code1, code2 = totp.at(now), totp.at(now + 30)
        print("codes: ****** ******")

        step(f"POST /users/{username}/mfa with the two codes: enable the virtual MFA device")
        status, enabled = invoke("enroll-mfa", http_event("enroll-mfa-enable.json", claims,
                                                          {"code1": code1, "code2": code2}, username), invoke_port)
        print(f"HTTP {status}\n{shown(enabled)}")
        if status != 200:
            sys.exit("MFA enrolment failed")

        step(f"sts:AssumeRole {role['arn']} with the new key, --serial-number and --token-code")
        sts = boto3.client("sts", aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"],
                           region_name=env["AWS_REGION"], endpoint_url=env.get("AWS_ENDPOINT_URL"))
        if real_aws:
            # STS refuses a code twice; wait for the window after the two used for enrolment.
            time.sleep(max(0, (int(now // 30) + 2) * 30 - time.time() + 1))
        for attempt in range(6):
            try:
                assumed = sts.assume_role(RoleArn=role["arn"], RoleSessionName="developer-session",
                                          SerialNumber=mfa["serial_number"], TokenCode=totp.now())
                break
            except botocore.exceptions.ClientError as error:
                if attempt == 5:
                    raise
                print(f"not yet ({error.response['Error']['Code']}); IAM is eventually consistent, retrying in 10s")
                time.sleep(10)
        print(f"assumed {assumed['AssumedRoleUser']['Arn']}; temporary key {assumed['Credentials']['AccessKeyId']} "
              f"expires {assumed['Credentials']['Expiration']}")

        step("~/.aws/config for this user")
        print(body["aws_cli_config"])

        step("drift-check: every managed user, grant group and catalog role against its desired state")
        with open(os.path.join(ROOT, "events", "drift-check-scheduled.json")) as f:
            report = invoke_raw("drift-check", json.load(f), invoke_port)
        print(json.dumps(report["summary"], indent=2))
        for finding in report["findings"]:
            print(f"{finding['severity']:>8}  {finding['rule']}  {finding['message']}")
        step("done: the seed procedure, end to end, with no console clicks")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if env_file:
            os.unlink(env_file)


if __name__ == "__main__":
    main()
