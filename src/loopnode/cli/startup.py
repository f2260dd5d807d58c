"""Start-up failures an operator can fix, reported in one line instead of a traceback.

A wrong database URL (unknown scheme, missing driver, refused or unanswered connection, bad
credentials) is the common first-run mistake; it used to print a 490-line traceback. The line
names the database without its password and the driver's first line of explanation; the
process exits with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

EXIT_CODE = 2


def describe(error: BaseException) -> str:
    """One line: what failed and the first line of why."""
    first = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0]
    if isinstance(error, NoSuchModuleError | ArgumentError):
        return f"loopnode: the database URL is not usable: {first[:300]}"
    if isinstance(error, DBAPIError):
        return f"loopnode: cannot use the database{_where(error)}: {first[:300]}"
    return f"loopnode: database error: {first[:300]}"


def _where(error: DBAPIError) -> str:
    url = getattr(getattr(error, "connection_url", None), "render_as_string", None)
    return "" if url is None else f" at {url(hide_password=True)}"


@contextmanager
def database_errors(echo: Callable[[str], None] | None = None) -> Iterator[None]:
    """Turn a database failure escaping a command into one line on stderr and exit 2."""
    try:
        yield
    except SQLAlchemyError as exc:
        (echo or _stderr)(describe(exc))
        raise SystemExit(EXIT_CODE) from None


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)
