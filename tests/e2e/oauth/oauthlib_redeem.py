#!/usr/bin/python3
"""A standards-strict third-party OAuth client (Debian's python3-oauthlib) signs in against a real
`offsync serve --require-auth`: it builds the PKCE S256 authorization request, checks the redirect
(state, code) as RFC 6749 says, redeems the code, validates the token response, refreshes, and
syncs with the bearer token.  Usage: oauthlib_redeem.py OFFSYNC_BIN
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

# oauthlib refuses http:// unless told: the provider answers on loopback (or over IPC), where
# RFC 8252 §8.3 allows it. Everything else it checks as strictly as ever.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

from oauthlib.oauth2 import WebApplicationClient  # noqa: E402

OFFSYNC = sys.argv[1]
CLIENT_ID = "org.example.math"
REDIRECT = "org.example.math:/oauth/callback"


def run(*args):
    return subprocess.run([OFFSYNC, *args], check=True, capture_output=True, text=True).stdout.strip()


def http(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data.encode() if data else None, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


with tempfile.TemporaryDirectory() as scratch:
    db = os.path.join(scratch, "provider.db")
    run("auth", "--db", db, "register-client", "--client-id", CLIENT_ID, "--redirect-uri", REDIRECT)
    server = subprocess.Popen([OFFSYNC, "serve", "--db", db, "--listen", "127.0.0.1:0", "--require-auth"],
                              stdout=subprocess.PIPE, text=True)
    try:
        base = re.search(r"http://[0-9.:]+", server.stdout.readline()).group(0)
        client = WebApplicationClient(CLIENT_ID)
        verifier = client.create_code_verifier(64)
        challenge = client.create_code_challenge(verifier, "S256")
        state = "lesson-42"
        url = client.prepare_request_uri(base + "/oauth/authorize", redirect_uri=REDIRECT, state=state,
                                         code_challenge=challenge, code_challenge_method="S256")
        status, body = http(url)
        assert status == 200, (status, body)

        # The consent screen approves; the app receives the redirect.
        redirect = run("auth", "--db", db, "approve", "--client-id", CLIENT_ID, "--redirect-uri", REDIRECT,
                       "--code-challenge", challenge, "--user", "alice", "--state", state,
                       "--ipc-service", "unix:/run/user/1000/lms.sock")
        fields = client.parse_request_uri_response(redirect, state=state)  # raises on a bad state
        assert "code" in fields

        body = client.prepare_request_body(code=fields["code"], redirect_uri=REDIRECT, code_verifier=verifier,
                                           include_client_id=True)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, text = http(base + "/oauth/token", body, form)
        assert status == 200, (status, text)
        token = client.parse_request_body_response(text)  # validates token_type, expires_in, ...
        assert token["token_type"] == "Bearer"

        status, text = http(base + "/v1/sync", headers={"Authorization": "Bearer " + token["access_token"]})
        assert status == 200, (status, text)
        status, _ = http(base + "/v1/sync")
        assert status == 401

        refresh_body = client.prepare_refresh_body(refresh_token=token["refresh_token"], client_id=CLIENT_ID)
        status, text = http(base + "/oauth/token", refresh_body, form)
        assert status == 200, (status, text)
        refreshed = client.parse_request_body_response(text)
        assert refreshed["refresh_token"] != token["refresh_token"]

        # The same code again is refused, and revokes what it issued (RFC 6749 §4.1.2).
        status, text = http(base + "/oauth/token", body, form)
        assert status == 400 and json.loads(text)["error"] == "invalid_grant", (status, text)
        status, _ = http(base + "/v1/sync", headers={"Authorization": "Bearer " + refreshed["access_token"]})
        assert status == 401
        print("oauthlib signed in, redeemed, refreshed and synced")
    finally:
        server.terminate()
        server.wait(timeout=10)
