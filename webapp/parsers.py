"""The API's JSON parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"])."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from webapp.nul_characters import MESSAGE as NUL_MESSAGE
from webapp.nul_characters import contains_nul

# No request body of this API nests more than a few levels (options, overrides, scores); serializers and
# PostgreSQL's jsonb recurse on whatever is accepted, so a far deeper body is refused before it reaches them.
MAX_DEPTH = 32


def json_depth(data) -> int:
    """How many objects and arrays deep `data` nests (a scalar: 0, {"a": [1]}: 2); without recursion."""
    deepest, pending = 0, [(data, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 400 (ParseError) instead of 500 for a body nested so deep that the decoder
    runs out of stack (RecursionError), for any body nested deeper than MAX_DEPTH, and for text that holds a NUL
    character (PostgreSQL cannot store it)."""

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if json_depth(data) > MAX_DEPTH:
            raise too_deep
        if contains_nul(data):
            raise ParseError(NUL_MESSAGE)
        return data
