"""
A throw-away certificate authority for tests: a CA certificate and
certificates it signs for XMPP domains, made with C{cryptography} into a
test's temporary directory.

Point a server's C{[s2s] ca_file} at L{TestCA.caPath} and a host's
C{certificate}/C{key} at what L{TestCA.issue} returns; peers (prosody,
ejabberd) can trust the same CA file.
"""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

#: id-on-xmppAddr (RFC 6120 §13.7.1.4).
XMPP_ADDR = ObjectIdentifier("1.3.6.1.5.5.7.8.5")


def _pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def _keyPem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class TestCA:
    """
    A CA in C{directory}: C{ca.crt} (L{caPath}) and its key.

    @param name: the CA's common name.
    """

    def __init__(self, directory, name="xmppframe test CA"):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(minutes=5))
            .not_valid_after(self.now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256()))
        self.caPath = os.path.join(directory, "ca.crt")
        with open(self.caPath, "wb") as f:
            f.write(_pem(self.certificate))

    def issue(self, domains, name=None, xmppAddr=True):
        """
        Sign a certificate for C{domains} (DNS-IDs, and XmppAddr
        identifiers when C{xmppAddr}), usable by a server and as a client
        certificate for s2s.

        @param name: the file stem; the first domain by default.
        @return: C{(certPath, keyPath)}, PEM files in the CA's directory.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName(domain) for domain in domains]
        if xmppAddr:
            from pyasn1.codec.der.encoder import encode
            from pyasn1.type.char import UTF8String
            names += [x509.OtherName(XMPP_ADDR, encode(UTF8String(domain)))
                      for domain in domains]
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(minutes=5))
            .not_valid_after(self.now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        stem = os.path.join(self.directory, name or domains[0])
        certPath, keyPath = stem + ".crt", stem + ".key"
        with open(certPath, "wb") as f:
            f.write(_pem(certificate))
        with open(keyPath, "wb") as f:
            f.write(_keyPem(key))
        os.chmod(keyPath, 0o600)
        return certPath, keyPath
