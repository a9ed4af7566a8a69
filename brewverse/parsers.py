"""The API's JSON parser: DRF's, except that a body nested too deeply for Python is a 400.

`[[[[…]]]]` a thousand levels deep is valid JSON of a few kilobytes, and Python's decoder answers it
with a RecursionError, which DRF does not catch (a 500 for any caller, signed in or not).
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.")
