"""Sigma behaviour detection over endpoint observations (pure Python, no database).

Public API: `compile_rule`, `CompiledRule`, `Engine`, `Detection`, `InvalidRule`,
`UnsupportedRule`, `load_shipped_rules`. See `engine` for usage and `fieldmap` for how
Sigma logsources and field names map onto observation records.
"""

from .engine import CompiledRule, Detection, Engine, compile_rule, compile_rules
from .errors import InvalidRule, RuleError, UnsupportedRule
from .loader import load_shipped_rules

__all__ = [
    "CompiledRule",
    "Detection",
    "Engine",
    "InvalidRule",
    "RuleError",
    "UnsupportedRule",
    "compile_rule",
    "compile_rules",
    "load_shipped_rules",
]
