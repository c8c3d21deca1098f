#!/usr/bin/env python3
"""Checks compose's DSSE envelopes with Python's `cryptography` (an implementation independent of
aws-lc-rs), and makes keys with it for compose to load (used by the integration tests).

usage:
  dsse.py verify ENVELOPE PUBLIC_KEY   verify the envelope's signatures over the DSSE PAE
  dsse.py keygen ecdsa-p256|ed25519|ecdsa-p256-sec1 PREFIX   write PREFIX.key and PREFIX.pub

verify: the PAE is built here from the spec (DSSEv1 SP len(type) SP type SP len(body) SP body);
ECDSA signatures are ASN.1 DER over SHA-256 of it, Ed25519 signatures over it. At least one
signature must verify, and its keyid must be the hex SHA-256 of the key's DER SubjectPublicKeyInfo.
Prints `valid KEYID` and exits 0, or prints the problem and exits 1.
"""
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


def pae(payload_type: bytes, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def key_id(public) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def check(public, sig: bytes, message: bytes) -> None:
    if isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name != "secp256r1":
            raise SystemExit(f"unexpected curve {public.curve.name}")
        public.verify(sig, message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(public, ed25519.Ed25519PublicKey):
        public.verify(sig, message)
    else:
        raise SystemExit(f"unexpected key type {type(public).__name__}")


def verify(envelope_path: str, public_path: str) -> None:
    with open(public_path, "rb") as f:
        public = serialization.load_pem_public_key(f.read())
    with open(envelope_path, "rb") as f:
        env = json.load(f)
    payload = base64.b64decode(env["payload"], validate=True)
    message = pae(env["payloadType"].encode(), payload)
    kid = key_id(public)
    if not env["signatures"]:
        raise SystemExit("the envelope has no signatures")
    for s in env["signatures"]:
        try:
            check(public, base64.b64decode(s["sig"], validate=True), message)
        except InvalidSignature:
            continue
        if s.get("keyid", "") != kid:
            raise SystemExit(f"the signature verifies but its keyid {s.get('keyid')!r} is not {kid}")
        print(f"valid {kid}")
        return
    raise SystemExit("no signature verifies with this key")


def keygen(kind: str, prefix: str) -> None:
    if kind == "ed25519":
        private, fmt = ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8
    elif kind == "ecdsa-p256":
        private, fmt = ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8
    elif kind == "ecdsa-p256-sec1":
        private, fmt = ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.TraditionalOpenSSL
    else:
        raise SystemExit(f"unknown kind {kind}")
    pem = private.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    pub = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(prefix + ".key", "wb") as f:
        f.write(pem)
    with open(prefix + ".pub", "wb") as f:
        f.write(pub)
    print(key_id(private.public_key()))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "keygen":
        keygen(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
