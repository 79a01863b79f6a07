"""Customers' e-mails at rest: SMT's Terminate call needs the e-mail the agreement was made with, so it
is kept, but only as a Fernet token under ``INTELLIWATT_SMT_EMAIL_KEY`` (``smt_authorization.contact_email_enc``).
Run config never holds it in clear either: a job takes an ``email_ref``, either ``enc:<token>`` (made by
``intelliwatt smt encrypt-email``) or ``env:<VARIABLE>`` (the e-mail in that variable of the run's process).
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken

ENC, ENV = "enc:", "env:"


class ContactEmailError(ValueError):
    """The e-mail cannot be had: no key, a bad key, a token of another key, or an unknown reference.
    Messages never hold the e-mail."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet(key: str) -> Fernet:
    if not key.strip():
        raise ContactEmailError("INTELLIWATT_SMT_EMAIL_KEY is not set: make one with `intelliwatt smt new-email-key`")
    try:
        return Fernet(key.strip().encode())
    except ValueError:
        raise ContactEmailError("INTELLIWATT_SMT_EMAIL_KEY is not a Fernet key (32 url-safe base64 bytes)") from None


def encrypt(email: str, key: str) -> str:
    """The e-mail as a token (a fresh one each time: Fernet adds a random IV and a timestamp)."""
    cleaned = email.strip()
    if "@" not in cleaned or len(cleaned) > 254:
        raise ContactEmailError("not an e-mail address")
    return _fernet(key).encrypt(cleaned.encode()).decode()


def decrypt(token: str, key: str) -> str:
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ContactEmailError("the stored e-mail was encrypted with another INTELLIWATT_SMT_EMAIL_KEY") from None


def token_from_ref(ref: str, key: str) -> str:
    """The stored form (a token under ``key``) of an ``email_ref``: an ``enc:`` token is checked to open
    with the key; an ``env:`` variable's e-mail is encrypted."""
    ref = ref.strip()
    if ref.startswith(ENC):
        token = ref[len(ENC):]
        decrypt(token, key)
        return token
    if ref.startswith(ENV):
        name = ref[len(ENV):]
        value = os.environ.get(name, "")
        if not value.strip():
            raise ContactEmailError(f"email_ref names the variable {name}, which is not set in the run's process")
        return encrypt(value, key)
    raise ContactEmailError("email_ref must be `enc:<token>` (intelliwatt smt encrypt-email) or `env:<VARIABLE>`")
