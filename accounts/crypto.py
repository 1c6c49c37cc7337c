"""Encryption at rest for third-party secrets we must use later (Tencent Cloud keys, signing keys).

Values are sealed with Fernet under ``settings.FIELD_ENCRYPTION_KEYS`` (newest first). Old keys
still open what they sealed; ``manage.py rotate_encryption_keys`` re-seals everything under the
newest key so an old key can then be dropped. Plaintext is only ever held in memory, on demand.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def seal(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise InvalidToken(
            "a sealed value cannot be opened with any key in FIELD_ENCRYPTION_KEYS"
        ) from None


def reseal(token: str) -> str:
    """The same plaintext sealed under the newest key."""
    return _current().rotate(token.encode()).decode()


# Columns holding sealed values, as "app_label.Model.field"; apps add theirs so that
# ``manage.py rotate_encryption_keys`` re-seals every one of them.
SEALED_FIELDS = [
    "accounts.ApiKeyPair.secret_sealed",
    "accounts.TencentCloudAuthorization.secret_key_sealed",
]
