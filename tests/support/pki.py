"""Throw-away test PKI for the TLS tests, made with the `openssl` command line tool.

    p = make_pki(tmpdir)       # → Pki with paths (PEM files, EC P-256 keys, no passphrases)
    p.ca_cert                  # the test CA, the one the gateway is told to trust
    p.server_cert/server_key   # CN localhost, SAN DNS:localhost + IP:127.0.0.1, signed by ca
    p.wrong_ca_cert            # an unrelated CA (signed nothing we serve)
    p.wrong_host_cert/_key     # signed by ca, but only for DNS:cdp.example.invalid
    p.client_ca_cert           # a separate CA for client certificates (mTLS)
    p.client_cert/client_key   # signed by client_ca (extendedKeyUsage clientAuth)
    p.rogue_client_cert/_key   # a client certificate signed by wrong_ca (not client_ca)

Certificates are valid for 2 days from now (the tests and the gateway share one clock).
Needs the Debian package `openssl`.
"""
import dataclasses
import os
import shutil
import subprocess

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@dataclasses.dataclass
class Pki:
    dir: str
    ca_cert: str
    ca_key: str
    server_cert: str
    server_key: str
    wrong_ca_cert: str
    wrong_ca_key: str
    wrong_host_cert: str
    wrong_host_key: str
    client_ca_cert: str
    client_ca_key: str
    client_cert: str
    client_key: str
    rogue_client_cert: str
    rogue_client_key: str


def _openssl(*args, cwd=None):
    r = subprocess.run([OPENSSL, *args], capture_output=True, text=True, cwd=cwd, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def _key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", path)
    os.chmod(path, 0o600)


def _ext_file(d, name, lines):
    p = os.path.join(d, name + ".ext")
    with open(p, "w") as f:
        f.write("\n".join(lines) + "\n")
    return p


def _ca(d, name, cn):
    key, cert = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    _key(key)
    ext = _ext_file(d, name, ["basicConstraints = critical, CA:TRUE",
                              "keyUsage = critical, keyCertSign, cRLSign",
                              "subjectKeyIdentifier = hash"])
    csr = os.path.join(d, name + ".csr")
    _openssl("req", "-new", "-key", key, "-subj", "/O=venuegw tests/CN=%s" % cn, "-out", csr)
    _sign(csr, cert, ext, ca=None, key=key)
    return cert, key


def _sign(csr, cert, ext, ca, key=None):
    """Sign csr with ca = (cert, key), or self-sign with key when ca is None."""
    args = ["x509", "-req", "-in", csr, "-out", cert, "-extfile", ext, "-sha256", "-days", "2",
            "-set_serial", str(int.from_bytes(os.urandom(8), "big") >> 1)]
    if ca is None:
        args += ["-signkey", key]
    else:
        args += ["-CA", ca[0], "-CAkey", ca[1]]
    _openssl(*args)


def _leaf(d, name, cn, san, ca, usage):
    key, cert = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    _key(key)
    csr = os.path.join(d, name + ".csr")
    _openssl("req", "-new", "-key", key, "-subj", "/O=venuegw tests/CN=%s" % cn, "-out", csr)
    lines = ["basicConstraints = critical, CA:FALSE",
             "keyUsage = critical, digitalSignature, keyEncipherment",
             "extendedKeyUsage = %s" % usage,
             "authorityKeyIdentifier = keyid"]
    if san:
        lines.append("subjectAltName = %s" % san)
    ext = _ext_file(d, name, lines)
    _sign(csr, cert, ext, ca=ca)
    return cert, key


def make_pki(d):
    """Create the whole test PKI under directory d (created if needed); return a Pki."""
    os.makedirs(d, exist_ok=True)
    ca = _ca(d, "ca", "venuegw test CA")
    wrong_ca = _ca(d, "wrong-ca", "venuegw wrong CA")
    client_ca = _ca(d, "client-ca", "venuegw test client CA")
    server = _leaf(d, "server", "localhost", "DNS:localhost, IP:127.0.0.1", ca, "serverAuth")
    wrong_host = _leaf(d, "wrong-host", "cdp.example.invalid", "DNS:cdp.example.invalid", ca,
                       "serverAuth")
    client = _leaf(d, "client", "venuegw-gw", None, client_ca, "clientAuth")
    rogue = _leaf(d, "rogue-client", "venuegw-gw", None, wrong_ca, "clientAuth")
    return Pki(dir=d, ca_cert=ca[0], ca_key=ca[1], server_cert=server[0], server_key=server[1],
               wrong_ca_cert=wrong_ca[0], wrong_ca_key=wrong_ca[1],
               wrong_host_cert=wrong_host[0], wrong_host_key=wrong_host[1],
               client_ca_cert=client_ca[0], client_ca_key=client_ca[1],
               client_cert=client[0], client_key=client[1],
               rogue_client_cert=rogue[0], rogue_client_key=rogue[1])


def verify(ca_cert, cert, purpose="sslserver", host=None, ip=None):
    """openssl verify: (ok, output). For the PKI's own self-test."""
    args = ["verify", "-CAfile", ca_cert, "-purpose", purpose]
    if host:
        args += ["-verify_hostname", host]
    if ip:
        args += ["-verify_ip", ip]
    r = subprocess.run([OPENSSL, *args, cert], capture_output=True, text=True, timeout=60)
    return r.returncode == 0, r.stdout + r.stderr


if __name__ == "__main__":
    import sys
    import tempfile
    out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="vg-pki-")
    p = make_pki(out)
    for f in dataclasses.fields(p):
        print("%-18s %s" % (f.name, getattr(p, f.name)))
