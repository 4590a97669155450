"""Many `re:` command-line patterns matched in one linear-time pass per command line (RE2 Set)."""

from __future__ import annotations

import re2

from intel.parsing import safe_regex


class RegexSet:
    """`match(text)` -> indexes of the patterns that occur in `text` (case-insensitive unless
    asked: the name globs run over normalised, lower-case columns).

    One RE2 `Set` runs every pattern in a single pass; if the set is too large for RE2's
    memory budget, the patterns run one by one (each still linear time).
    """

    def __init__(self, patterns: list[str], *, case_sensitive: bool = False) -> None:
        self.patterns = patterns
        self._set = None
        self._singles = None
        options = re2.Options()
        options.case_sensitive = case_sensitive
        options.log_errors = False
        options.max_mem = safe_regex.MAX_MEMORY * 4
        try:
            regex_set = re2.Set.SearchSet(options)
            for pattern in patterns:
                regex_set.Add(pattern)
            regex_set.Compile()
            self._set = regex_set
        except (re2.error, ValueError, TypeError):
            self._singles = []
            for pattern in patterns:
                try:
                    self._singles.append(safe_regex.compile(pattern, case_sensitive=case_sensitive))
                except safe_regex.UnsafeRegex:
                    self._singles.append(None)

    def match(self, text: str) -> list[int]:
        if self._set is not None:
            return list(self._set.Match(text) or ())
        return [
            index
            for index, regex in enumerate(self._singles or [])
            if regex is not None and regex.search(text) is not None
        ]
