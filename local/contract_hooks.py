"""Schemathesis hooks for the contract test (`local/dev contract`): how to make a raw email, the
body of `POST /v1/mailboxes/{id}/messages` (`message/rfc822`), which schemathesis cannot
generate from a schema. Half of the bodies are arbitrary bytes, half mail-shaped messages with
generated subjects and text, so both the refusals and the accept path are fuzzed."""

from hypothesis import strategies as st
import schemathesis

_line = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)

_mail = st.builds(
    lambda subject, body, n: (
        f"From: Fuzz <fuzz@customer.example>\r\nTo: support@shop.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{n}@fuzz.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode("utf-8"),
    _line,
    st.text(max_size=400),
    st.integers(min_value=0, max_value=2**63),
)

schemathesis.openapi.media_type("message/rfc822", st.one_of(st.binary(max_size=2000), _mail))
