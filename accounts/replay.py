"""Signed requests are accepted once: the replay cache.

A signature (the management API's ``SecretId``/``TimeStamp``/``Sign``, TPNS's
``AccessId``/``TimeStamp``/``Sign``) is remembered from the moment it verified until its
TimeStamp leaves the skew window (TimeStamp + ``API_SIGNATURE_MAX_SKEW``; after that the same
request is refused as stale anyway). A second request with the same signer, TimeStamp and Sign
within that time is a replay, answered with the protocol's authentication error before its
handler runs, so nothing is written, sent or charged twice.

Callers record a signature only after it verified (a forged request cannot use up someone's
signature) and before the handler runs. Storage: Redis ``SET NX EX`` when ``REDIS_URL`` is set,
otherwise the ``UsedSignature`` table (a unique digest: insert or fail). Either way, of two
identical requests arriving at once exactly one wins.
"""

import hashlib

from . import kv
from .signing import max_skew


def first_use(protocol: str, key_id: str, timestamp: int, signature: str, now: float) -> bool:
    """True if this signature is used for the first time (and records it), False for a replay.

    ``protocol`` keeps the APIs apart ("api", "tpns"); ``key_id`` is the SecretId or AccessID.
    """
    from .models import UsedSignature

    material = f"{protocol}\n{key_id}\n{timestamp}\n{signature}".encode()
    digest = hashlib.sha256(material).hexdigest()
    expires_at = timestamp + max_skew() + 1
    if kv.enabled():
        seconds = max(1, int(expires_at - now) + 1)
        return bool(kv.client().set(kv.key("replay", digest), b"1", nx=True, ex=seconds))
    return UsedSignature.objects.claim(digest, expires_at)


def purge(now: float) -> int:
    """Forget expired signatures of the database cache (Redis expires its keys itself)."""
    from .models import UsedSignature

    return UsedSignature.objects.purge(now)
