"""Makes the TLS material the interop suite's TLS scenarios use, in the directory given.

    python certs.py DIR BASE

Writes PEM files:
  ca.pem                        the CA both brokers trust for client certificates
  server.pem, server_key.pem    the brokers' certificate (CN=localhost, SAN localhost and
                                127.0.0.1), signed by the CA
  client.pem, client_key.pem    a client certificate signed by the CA; its subject is
                                O=Warren Interop, CN=interop-client, so its RFC 4514 DN (as
                                RabbitMQ formats it, last RDN first) is CLIENT_DN below
  untrusted.pem, untrusted_key.pem  a client certificate from a CA the brokers do not know
and definitions.json: the definitions file BASE (the suite's access definitions, with guest:
RabbitMQ creates no default user when it loads definitions at boot) plus CLIENT_DN as a
password-less user with every permission on "/", for both brokers to load; and prints CLIENT_DN
(the user name an EXTERNAL login with client.pem presents).
"""

import datetime
import ipaddress
import json
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_CN = "interop-client"
CLIENT_ORG = "Warren Interop"
CLIENT_DN = f"CN={CLIENT_CN},O={CLIENT_ORG}"


def name(*pairs):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def write_key(path, key):
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def write_cert(path, cert):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_ca(common_name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name((NameOID.COMMON_NAME, common_name))
    cert = (
        builder(subject, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


def make_leaf(ca_key, ca_cert, subject, usage, sans=None):
    key = ec.generate_private_key(ec.SECP256R1())
    b = builder(subject, ca_cert.subject, key.public_key())
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def main(out, base):
    out.mkdir(parents=True, exist_ok=True)
    ca_key, ca = make_ca("Warren Interop CA")
    write_cert(out / "ca.pem", ca)
    server_sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    key, cert = make_leaf(
        ca_key, ca, name((NameOID.COMMON_NAME, "localhost")),
        ExtendedKeyUsageOID.SERVER_AUTH, server_sans,
    )
    write_key(out / "server_key.pem", key)
    write_cert(out / "server.pem", cert)
    client_subject = name((NameOID.ORGANIZATION_NAME, CLIENT_ORG), (NameOID.COMMON_NAME, CLIENT_CN))
    key, cert = make_leaf(ca_key, ca, client_subject, ExtendedKeyUsageOID.CLIENT_AUTH)
    write_key(out / "client_key.pem", key)
    write_cert(out / "client.pem", cert)
    other_key, other = make_ca("Unknown CA")
    key, cert = make_leaf(other_key, other, client_subject, ExtendedKeyUsageOID.CLIENT_AUTH)
    write_key(out / "untrusted_key.pem", key)
    write_cert(out / "untrusted.pem", cert)
    (out / "definitions.json").write_text(json.dumps(definitions(base)))
    print(CLIENT_DN)


def definitions(base):
    """BASE's definitions with CLIENT_DN added: no password (EXTERNAL only), everything on "/"."""
    defs = json.loads(Path(base).read_text())
    defs.setdefault("users", []).append(
        {"name": CLIENT_DN, "password_hash": "", "tags": []}
    )
    defs.setdefault("permissions", []).append(
        {"user": CLIENT_DN, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    )
    return defs


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
