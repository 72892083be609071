"""Cluster secrets: generation, text forms, the 0600 file and the environment variable."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from pardata.comm.auth import ENV_VAR, SECRET_BYTES, decode_secret, encode_secret
from pardata.security import Security, load_secret, new_secret, write_secret

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX"),
]


@pytest.fixture
def no_env_secret(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_secrets_are_long_and_random():
    a, b = new_secret(), new_secret()
    assert len(a) == SECRET_BYTES >= 32 and a != b


def test_write_secret_creates_a_private_file_that_loads_back(tmp_path):
    path = tmp_path / "cluster.secret"
    old = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        secret = write_secret(path)
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert load_secret(path) == secret
    assert path.read_text().strip() == secret.hex()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.secret"]  # no temporary left


def test_write_secret_never_overwrites_by_accident(tmp_path):
    path = tmp_path / "s"
    first = write_secret(path)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_secret(path)
    assert load_secret(path) == first
    second = write_secret(path, overwrite=True)
    assert second != first and load_secret(path) == second and mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_write_secret_refuses_short_secrets(tmp_path):
    with pytest.raises(ValueError, match="at least 32"):
        write_secret(tmp_path / "s", b"short")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_a_secret_file_others_can_access_is_refused(tmp_path, bad_mode):
    path = tmp_path / "s"
    write_secret(path)
    os.chmod(path, bad_mode)
    with pytest.raises(PermissionError, match=rf"group or others \(mode {bad_mode:04o}\).*chmod 600"):
        load_secret(path)


def test_owner_only_modes_are_accepted(tmp_path):
    path = tmp_path / "s"
    secret = write_secret(path)
    os.chmod(path, 0o400)
    assert load_secret(path) == secret


def test_missing_and_garbage_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_secret(tmp_path / "nope")
    path = tmp_path / "garbage"
    path.write_bytes(b"\xff\xfe not a secret")
    os.chmod(path, 0o600)
    with pytest.raises(ValueError, match="not hex or base64"):
        load_secret(path)
    with pytest.raises(ValueError, match="is not a regular file"):
        load_secret(tmp_path)


def test_secret_from_the_environment_in_hex_or_base64(monkeypatch):
    secret = new_secret()
    for text in (secret.hex(), base64.b64encode(secret).decode(), base64.urlsafe_b64encode(secret).decode()):
        monkeypatch.setenv(ENV_VAR, f"  {text}\n")
        assert load_secret() == secret
    monkeypatch.setenv(ENV_VAR, "00" * 16)
    with pytest.raises(ValueError, match=r"\$PARDATA_AUTH_SECRET is 16 bytes"):
        load_secret()
    monkeypatch.setenv(ENV_VAR, "not a secret!")
    with pytest.raises(ValueError, match="not hex or base64"):
        load_secret()


def test_file_wins_over_environment_and_absence_is_explicit(tmp_path, monkeypatch, no_env_secret):
    with pytest.raises(LookupError, match="--auth-file or set \\$PARDATA_AUTH_SECRET"):
        load_secret()
    assert load_secret(required=False) is None
    monkeypatch.setenv(ENV_VAR, new_secret().hex())
    in_file = write_secret(tmp_path / "s")
    assert load_secret(tmp_path / "s") == in_file


def test_text_round_trip():
    secret = new_secret()
    assert decode_secret(encode_secret(secret)) == secret
    assert decode_secret(encode_secret(secret).encode()) == secret


def test_security_travels_to_child_processes_through_the_environment(tmp_path, no_env_secret):
    secret = new_secret()
    sec = Security.temporary(tmp_path, auth_secret=secret, require_encryption=True)
    env = sec.child_env()
    assert env[ENV_VAR] == secret.hex()
    child = Security.from_env(env)
    assert child.auth_secret == secret and child.require_encryption
    assert (child.tls_ca_file, child.tls_cert, child.tls_key) == (sec.tls_ca_file, sec.tls_cert, sec.tls_key)
    # command-line values win; --auth-file is read with the permission check
    write_secret(tmp_path / "s")
    os.chmod(tmp_path / "s", 0o644)
    with pytest.raises(PermissionError):
        Security.from_env(env, auth_file=tmp_path / "s")
    assert Security.from_env({}).authenticator() is None


def test_the_secret_in_the_environment_never_enters_the_config():
    from pardata import config

    text = encode_secret(new_secret())
    collected = config.collect(paths=[], environ={ENV_VAR: text, "PARDATA_DISTRIBUTED__X": "1"})
    assert text not in repr(collected)
    assert collected["distributed"]["x"] == 1  # other variables still are settings
