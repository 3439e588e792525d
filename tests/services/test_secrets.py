"""The secret box: seals under the newest key, opens under any configured key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from optibridge.secret_box import SecretBox, SecretKeyMismatch

NEW, OLD, UNKNOWN = (Fernet.generate_key() for _ in range(3))


def test_a_secret_sealed_under_the_old_key_opens_after_a_new_key_is_put_in_front() -> None:
    sealed = SecretBox([OLD]).seal("optimove-api-key")
    assert SecretBox([NEW, OLD]).open(sealed) == "optimove-api-key"


def test_a_secret_is_sealed_under_the_first_key() -> None:
    sealed = SecretBox([NEW, OLD]).seal("comm100-api-key")
    assert Fernet(NEW).decrypt(sealed.encode()) == b"comm100-api-key"
    with pytest.raises(SecretKeyMismatch):
        SecretBox([OLD]).open(sealed)


def test_a_secret_under_no_configured_key_is_a_mismatch_that_does_not_show_it() -> None:
    sealed = SecretBox([UNKNOWN]).seal("webhook-token")
    with pytest.raises(SecretKeyMismatch) as refused:
        SecretBox([NEW, OLD]).open(sealed)
    assert "none of the keys" in str(refused.value)
    assert sealed not in str(refused.value)


def test_resealing_moves_a_secret_to_the_first_key() -> None:
    box = SecretBox([NEW, OLD])
    resealed = box.reseal(SecretBox([OLD]).seal("optimove-api-key"))
    assert resealed is not None
    assert SecretBox([NEW]).open(resealed) == "optimove-api-key"


def test_resealing_a_secret_already_under_the_first_key_changes_nothing() -> None:
    box = SecretBox([NEW, OLD])
    assert box.reseal(box.seal("optimove-api-key")) is None


def test_resealing_a_secret_under_no_configured_key_is_a_mismatch() -> None:
    with pytest.raises(SecretKeyMismatch):
        SecretBox([NEW, OLD]).reseal(SecretBox([UNKNOWN]).seal("webhook-token"))
