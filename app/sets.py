"""SETs signed (RFC 8417 as a JWS, RFC 7515 compact serialisation) when they are delivered.

The key comes from the settings: HS256 with SCIM_EVENTS_SECRET, RS256 or ES256 with the PEM
private key in SCIM_EVENTS_KEY_FILE, or no signature at all (`alg: none`) only when
SCIM_EVENTS_ALG=none says so. The key id (`kid`) is SCIM_EVENTS_KEY_ID or the key's RFC 7638
thumbprint. joserfc does the JWS.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from app import config

# RFC 8417 §2.3: the `typ` of a SET.
TYP = "secevent+jwt"
Key = OctKey | RSAKey | ECKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signer:
    """The algorithm, key and header every SET is signed with."""

    alg: str
    key: Key | None
    header: dict[str, str]

    def sign(self, claims: str) -> str:
        """The compact JWS of a SET's claims (JSON text, signed as stored)."""
        if self.key is None:
            # joserfc warns on every `none` token: the operator chose it by name, and
            # `_signer` logged it once at start.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SecurityWarning)
                return jws.serialize_compact(self.header, claims, None, algorithms=["none"])
        return jws.serialize_compact(self.header, claims, self.key, algorithms=[self.alg])


def signer(settings: config.Settings | None = None) -> Signer:
    """The signer for these settings (default: those in force); ValueError when they name no
    usable key."""
    settings = settings or config.get()
    return _signer(
        settings.events_alg,
        settings.events_secret,
        settings.events_key_file,
        settings.events_key_id,
    )


@cache
def _signer(
    alg: str | None, secret: str | None, key_file: str | None, key_id: str | None
) -> Signer:
    if alg == "none":
        log.warning("security events are NOT signed (SCIM_EVENTS_ALG=none)")
        return Signer("none", None, {"alg": "none", "typ": TYP})
    key: Key
    if key_file:
        pem = Path(key_file).read_bytes()
        rsa = isinstance(load_pem_private_key(pem, password=None), RSAPrivateKey)
        key = RSAKey.import_key(pem) if rsa else ECKey.import_key(pem)
        alg = alg or ("RS256" if isinstance(key, RSAKey) else "ES256")
    elif secret:
        key, alg = OctKey.import_key(secret), alg or "HS256"
    else:
        raise ValueError(
            "security events need a signing key: set SCIM_EVENTS_SECRET (HS256) or"
            " SCIM_EVENTS_KEY_FILE (RS256, ES256), or SCIM_EVENTS_ALG=none for unsigned SETs"
        )
    expected = {"HS256": OctKey, "RS256": RSAKey, "ES256": ECKey}[alg]
    # RFC 7518 §3.4: ES256 is ECDSA on P-256 only.
    if not isinstance(key, expected) or (isinstance(key, ECKey) and key.curve_name != "P-256"):
        raise ValueError(f"SCIM_EVENTS_ALG={alg} does not fit the key given")
    header = {"alg": alg, "kid": key_id or key.thumbprint(), "typ": TYP}
    return Signer(alg, key, header)
