"""Turn Pydantic validation errors into protocol issues with RFC 6901 JSON pointers."""

from __future__ import annotations

from pydantic import ValidationError

from loopnode.domain.errors import Issue


def json_pointer(location: tuple[int | str, ...]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def issues_from_validation_error(error: ValidationError) -> list[Issue]:
    issues = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        issues.append(Issue(json_pointer(tuple(item["loc"])), message))
    return issues
