"""The SMTP adapter: the only module that imports ``smtplib``.

    SmtpError              a mail did not go out; ``failure`` says why, without its body
     ├── ServerTrouble     the server was not reached, or refused the connection, the login
     │                     or the sender: every mail waits, none is to blame
     └── MailRefused       the server refused this one mail (its code says for how long)

smtp:// speaks STARTTLS whenever the server offers it, and refuses to send a password over
a connection without it; smtps:// is TLS from the first byte. The password is a SecretStr,
and neither it nor a mail's body is ever logged (smtplib's debug output stays off).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from mail.model import Failure

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


class SmtpError(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.text)
        self.failure = failure


class ServerTrouble(SmtpError):
    """Nothing can be sent now; try every mail again later."""


class MailRefused(SmtpError):
    """The server would not take this mail."""


@dataclass(frozen=True)
class SmtpAddress:
    """Where and how to reach the SMTP server; ``repr`` never shows the password."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: SecretStr | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpAddress:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("use smtp://[user:password@]host[:port] or smtps://…")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ValueError("the SMTP port must be a number from 1 to 65535") from None
        password = SecretStr(unquote(parts.password)) if parts.password is not None else None
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=password,
        )


@dataclass(frozen=True)
class Letter:
    """One mail as the adapter needs it."""

    message_id: str
    sender: str
    recipient: str
    subject: str
    text: str
    html: str
    language: str
    attachments: Sequence[tuple[str, str, bytes]] = ()


def build_message(letter: Letter) -> EmailMessage:
    """Plain text, with an HTML alternative when there is one, and the attachments."""
    message = EmailMessage()
    message["From"] = letter.sender
    message["To"] = letter.recipient
    message["Subject"] = letter.subject
    message["Message-ID"] = letter.message_id
    message["Date"] = formatdate(localtime=False)
    message.set_content(letter.text)
    if letter.html:
        message.add_alternative(letter.html, subtype="html")
    for filename, content_type, content in letter.attachments:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    # Last: setting the content moves or drops every Content-* header set before.
    message["Content-Language"] = letter.language
    return message


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return " ".join(words.split())[:120] or str(code)


class Connection:
    """One SMTP conversation that may carry several mails."""

    def __init__(self, address: SmtpAddress, timeout: float) -> None:
        self._address = address
        self._timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Self:
        address = self._address
        context = ssl.create_default_context()
        try:
            if address.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    address.host, address.port, timeout=self._timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(address.host, address.port, timeout=self._timeout)
            self._smtp = smtp
            smtp.ehlo()
            if not address.implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif not address.implicit_tls and address.password is not None:
                raise ServerTrouble(
                    Failure("the SMTP server offers no STARTTLS; the password is not sent in clear")
                )
            if address.username and address.password is not None:
                smtp.login(address.username, address.password.get_secret_value())
        except smtplib.SMTPAuthenticationError as exc:
            self._close()
            raise ServerTrouble(Failure(f"SMTP login refused ({exc.smtp_code})")) from None
        except smtplib.SMTPResponseException as exc:
            self._close()
            raise ServerTrouble(Failure(f"SMTP server refused ({exc.smtp_code})")) from None
        except OSError as exc:
            self._close()
            raise ServerTrouble(
                Failure(f"SMTP server unreachable ({type(exc).__name__})")
            ) from None
        except smtplib.SMTPException as exc:
            self._close()
            raise ServerTrouble(Failure(f"SMTP server unusable ({type(exc).__name__})")) from None
        except ServerTrouble:
            self._close()
            raise
        return self

    def send(self, letter: Letter) -> None:
        """Hand one mail to the server; raises MailRefused or ServerTrouble."""
        assert self._smtp is not None, "use the connection in a with block"
        try:
            self._smtp.send_message(build_message(letter))
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise MailRefused(Failure(f"recipient refused: {_reply(code, text)}", code)) from None
        except smtplib.SMTPSenderRefused as exc:
            raise ServerTrouble(Failure(f"sender refused ({exc.smtp_code})")) from None
        except smtplib.SMTPResponseException as exc:
            reply = _reply(exc.smtp_code, exc.smtp_error)
            raise MailRefused(Failure(f"mail refused: {reply}", exc.smtp_code)) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerTrouble(Failure(f"SMTP connection lost ({type(exc).__name__})")) from None

    def _close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
