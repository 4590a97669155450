"""Why a Sigma rule was not compiled.

Two kinds of "no", kept apart because callers treat them differently: an `InvalidRule` is
the author's mistake (fix the YAML), an `UnsupportedRule` is ours (the engine cannot apply
the rule faithfully, so it refuses the whole rule rather than run part of it).
"""

from __future__ import annotations


class RuleError(ValueError):
    """Base class: the rule was not compiled; `reason` says why in one sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidRule(RuleError):
    """The text is not a valid Sigma rule (YAML or Sigma syntax), with pySigma's message."""


class UnsupportedRule(RuleError):
    """A valid rule using a feature, field, logsource or modifier the engine cannot honour.

    Refusing the whole rule is deliberate: a rule with one selection silently dropped would
    match more (a dropped filter) or less (a dropped selection) than its author wrote.
    """
