"""Structured JSON logs (structlog), carrying the request id bound by RequestIdMiddleware.

Every line is one JSON object on stderr: structlog's own events and the standard library's
(uvicorn's start-up and error lines) alike. Headers, bodies and query strings are never
logged (identity numbers and tokens must not reach logs): see services.kit.metrics for the one
`request` line per request.

As a last guard, every line is scrubbed before it is written: an 18-character identity
number (GB 11643) is masked as the API masks it (`150102********1234`), a bearer token or a
JWT is replaced, wherever they appear (a path a client got wrong, an exception's message or
traceback)."""

import logging
import re
import sys
from typing import Any, TextIO

import structlog

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _StderrLogger:
    """Writes to the *current* sys.stderr, so that a test runner's capture can swap it."""

    def msg(self, message: str) -> None:
        stream: TextIO = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _StandardStream(logging.StreamHandler):  # type: ignore[type-arg]
    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


# Not part of a longer run of letters or digits (request ids, hashes, our own ids).
_IDENTITY_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
REDACTED_TOKEN = "[redacted]"
# What any of the three needs somewhere in the text: 17 digits in a row, "bearer", "eyJ". One
# scan of a line without any (nearly every line) spares the three substitutions.
_MAYBE_SECRET = re.compile(r"\d{17}|(?i:bearer)|eyJ")


def scrub(text: str) -> str:
    """`text` without identity numbers (masked) and tokens (replaced)."""
    if _MAYBE_SECRET.search(text) is None:
        return text
    text = _IDENTITY_NUMBER.sub(r"\1********\2", text)
    text = _BEARER.sub(rf"\1 {REDACTED_TOKEN}", text)
    return _JWT.sub(REDACTED_TOKEN, text)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


def scrub_event(_logger: Any, _method: str, event_dict: Any) -> Any:
    """structlog processor: run after format_exc_info, so that tracebacks are scrubbed too."""
    return {key: _scrubbed(value) for key, value in event_dict.items()}


def _logger_factory(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(level: int = logging.INFO) -> None:
    """Idempotent: every app factory calls it; the last call's level wins."""
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.processors.format_exc_info,
            scrub_event,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_logger_factory,
        # Not cached, so that tests can still capture (structlog.testing.capture_logs).
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_SHARED_PROCESSORS],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_event,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StandardStream):
            root.removeHandler(handler)
    handler = _StandardStream()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn installs its own plain-text handlers before loading the app: route its lines
    # through the JSON handler instead. Its access log is off: it would carry query strings.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    # One line per outbound call would drown the request logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
