"""CURVE key files (docs/operations.md, "Security"): CZMQ's zcert text format, as written by
``spectra keygen NAME`` (NAME.key, NAME.key_secret) or by :func:`keygen`::

    curve
        public-key = "<40 Z85 characters>"
        secret-key = "<40 Z85 characters>"     (only in NAME.key_secret)

A daemon with keys accepts only CURVE clients whose public key is in the allow-list of the socket's
role: producers (ingest), subscribers (results), operators (control)."""

import os
import time

import zmq

from .errors import SpectraError

Z85_LEN = 40
_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


class KeyFileError(SpectraError, ValueError):
    """A key file that cannot be read or is not a valid zcert file ("FILE:LINE: reason")."""


def _check_z85(value, where, name):
    if len(value) != Z85_LEN:
        raise KeyFileError(f"{where}: {name}: {len(value)} characters, a Z85 CURVE key has {Z85_LEN}")
    for g in range(0, Z85_LEN, 5):
        v = 0
        for i, ch in enumerate(value[g:g + 5]):
            d = _Z85.find(ch)
            if d < 0:
                raise KeyFileError(f"{where}: {name}: character {ch!r} at position {g + i + 1} "
                                   "is not Z85")
            v = v * 85 + d
        if v > 0xFFFFFFFF:
            raise KeyFileError(f"{where}: {name}: characters {g + 1}-{g + 5} are not valid Z85")


def _value(text, where):
    """The value of 'name = value' (quoted or bare), with an optional trailing comment."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end < 0:
            raise KeyFileError(f"{where}: unterminated quoted value")
        value, rest = text[1:end], text[end + 1:].strip()
    else:
        value, _, rest = text.partition(" ")
        rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise KeyFileError(f"{where}: unexpected text after the value")
    return value


def parse_key(text, name="key", secret=False):
    """Parses zcert text: (public_z85, secret_z85 or None), both bytes. ``secret``: the text must
    hold a secret key."""
    keys = {}
    in_curve = saw_curve = False
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{name}:{lineno}"
        if line[0] not in " \t":
            in_curve = stripped.split()[0].split("=")[0] == "curve"
            saw_curve |= in_curve
        elif in_curve:
            key, eq, rest = stripped.partition("=")
            key = key.strip()
            if not eq or not key:
                raise KeyFileError(f"{where}: expected 'name = value'")
            if key in ("public-key", "secret-key"):
                if key in keys:
                    raise KeyFileError(f"{where}: {key} given twice")
                value = _value(rest, where)
                _check_z85(value, where, key)
                keys[key] = value
    if not saw_curve:
        raise KeyFileError(f"{name}: no 'curve' section: not a CZMQ zcert key file")
    if "public-key" not in keys:
        raise KeyFileError(f"{name}: the 'curve' section has no public-key")
    sec = keys.get("secret-key")
    if secret and sec is None:
        raise KeyFileError(f"{name}: no secret-key (this is a public key file; give the secret "
                           "file, usually NAME.key_secret)")
    if sec is not None and zmq.curve_public(sec.encode()) != keys["public-key"].encode():
        raise KeyFileError(f"{name}: public-key does not belong to secret-key")
    return keys["public-key"].encode(), (sec.encode() if sec is not None else None)


def read_key(path, secret=False):
    """Reads a key file: (public_z85, secret_z85 or None) as bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(65537)
    except OSError as e:
        raise KeyFileError(f"{path}: {e.strerror}") from None
    if len(data) > 65536 or b"\0" in data:
        raise KeyFileError(f"{path}: not a key file")
    return parse_key(data.decode("utf-8", "replace"), str(path), secret)


def _write_new(path, text, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def keygen(base):
    """Writes a new key pair BASE.key (public) and BASE.key_secret (mode 0600), as ``spectra
    keygen`` does; refuses to overwrite. Returns (public_z85, secret_z85)."""
    base = os.fspath(base)
    pub_path, sec_path = base + ".key", base + ".key_secret"
    for p in (pub_path, sec_path):
        if os.path.exists(p):
            raise FileExistsError(f"{p}: exists (refusing to overwrite a key)")
    pub, sec = zmq.curve_keypair()
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    name = os.path.basename(base)
    meta = f'    name = "{name}"\n' if '"' not in name and "\n" not in name else ""
    head = f"#   ****  Generated on {when} UTC by spectra keygen  ****\n"
    _write_new(sec_path, head + "#   ZeroMQ CURVE **Secret** Certificate\n"
               "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
               f'metadata\n{meta}curve\n    public-key = "{pub.decode()}"\n'
               f'    secret-key = "{sec.decode()}"\n', 0o600)
    try:
        _write_new(pub_path, head + "#   ZeroMQ CURVE Public Certificate\n\n"
                   f'metadata\n{meta}curve\n    public-key = "{pub.decode()}"\n', 0o644)
    except OSError:
        os.unlink(sec_path)
        raise
    return pub, sec


def load_curve(server_key, key):
    """Key files -> (server_public, client_public, client_secret), or None when both are None."""
    if server_key is None and key is None:
        return None
    if server_key is None or key is None:
        raise ValueError("CURVE needs both server_key (the daemon's public key file) and key "
                         "(this client's secret key file)")
    server_public, _ = read_key(server_key)
    client_public, client_secret = read_key(key, secret=True)
    return server_public, client_public, client_secret


def apply_curve(sock, curve):
    """Makes sock a CURVE client (before it connects); curve from :func:`load_curve`."""
    if curve is not None:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve
