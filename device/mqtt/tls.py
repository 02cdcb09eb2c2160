"""TLS for the MQTT client: a context that trusts only the given CA, on CPython and MicroPython."""


def tls_context(ca):
    """A client SSLContext that requires a server certificate signed by `ca`.

    ca: the CA certificate, PEM (bytes or str) or DER bytes. On MicroPython the
    context must be told to verify (ssl.SSLContext defaults to CERT_NONE there)
    and the unix port's mbedtls parses only DER, so PEM is converted first.
    """
    import ssl
    if isinstance(ca, str):
        ca = ca.encode()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if hasattr(context, "check_hostname"):  # CPython: verifies and checks the name by default
        context.load_verify_locations(cadata=ca.decode() if b"-----BEGIN" in ca else ca)
    else:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=pem_to_der(ca) if b"-----BEGIN" in ca else ca)
    return context


def pem_to_der(pem):
    """DER bytes of the first certificate in a PEM blob."""
    import binascii
    begin = pem.find(b"-----BEGIN CERTIFICATE-----")
    end = pem.find(b"-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        raise ValueError("mqtt: no PEM certificate found")
    return binascii.a2b_base64(pem[begin + 27:end])
