"""The secret keys: a list, newest first, from OPTIBRIDGE_SECRET_KEY or the key file; a bad
entry is refused by its position, never by its value."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from optibridge.config import SECRET_KEY_FILE, Config, SecretKeyInvalid, parse_secret_keys

NEW, OLD, OLDEST = (Fernet.generate_key() for _ in range(3))
NOT_A_KEY = "not-a-fernet-key-but-secret-looking-0123456789"


@pytest.mark.parametrize(
    "text",
    [
        f"{NEW.decode()},{OLD.decode()},{OLDEST.decode()}",
        f"{NEW.decode()}, {OLD.decode()} ,{OLDEST.decode()}",
        f"{NEW.decode()} {OLD.decode()}\n{OLDEST.decode()}\n",
        f",{NEW.decode()},,{OLD.decode()}\t{OLDEST.decode()},",
    ],
    ids=["commas", "commas and spaces", "whitespace and newlines", "stray separators"],
)
def test_keys_are_separated_by_commas_or_whitespace_newest_first(text: str) -> None:
    assert parse_secret_keys(text) == (NEW, OLD, OLDEST)


def test_one_key_is_a_list_of_one() -> None:
    assert parse_secret_keys(NEW.decode()) == (NEW,)


def test_an_invalid_key_is_named_by_its_position_never_its_value() -> None:
    with pytest.raises(SecretKeyInvalid) as refused:
        parse_secret_keys(f"{NEW.decode()},{NOT_A_KEY},{OLD.decode()}")
    assert str(refused.value) == ("key 2 of 3 is not a valid Fernet key (32 url-safe base64 bytes)")
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__


def test_a_single_invalid_key_is_refused() -> None:
    with pytest.raises(SecretKeyInvalid, match=r"^the key is not a valid Fernet key"):
        parse_secret_keys(NOT_A_KEY)


@pytest.mark.parametrize("text", ["", " ", ",", " , \n"])
def test_an_empty_list_is_refused(text: str) -> None:
    with pytest.raises(SecretKeyInvalid, match="no key given"):
        parse_secret_keys(text)


def test_the_environment_variable_is_refused_at_start_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPTIBRIDGE_SECRET_KEY", f"{NEW.decode()},{OLD.decode()},{NOT_A_KEY}")
    with pytest.raises(ValidationError) as refused:
        Config()
    shown = str(refused.value)  # what a traceback would print
    assert "key 3 of 3 is not a valid Fernet key (32 url-safe base64 bytes)" in shown
    assert NOT_A_KEY not in shown
    assert NEW.decode() not in shown


def test_configured_keys_come_newest_first(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, secret_key=f"{NEW.decode()}\n{OLD.decode()}")
    assert config.secret_keys() == (NEW, OLD)
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_the_key_file_is_created_once_with_one_key(tmp_path: Path) -> None:
    first = Config(data_dir=tmp_path).secret_keys()
    assert len(first) == 1
    assert Config(data_dir=tmp_path).secret_keys() == first


def test_the_key_file_may_hold_several_keys(tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_FILE).write_bytes(NEW + b"\n" + OLD + b"\n")
    assert Config(data_dir=tmp_path).secret_keys() == (NEW, OLD)


def test_an_invalid_key_file_is_named_with_the_position(tmp_path: Path) -> None:
    key_file = tmp_path / SECRET_KEY_FILE
    key_file.write_text(f"{NEW.decode()}\n{NOT_A_KEY}\n")
    with pytest.raises(SecretKeyInvalid) as refused:
        Config(data_dir=tmp_path).secret_keys()
    assert str(refused.value) == (
        f"{key_file}: key 2 of 2 is not a valid Fernet key (32 url-safe base64 bytes)"
    )
