"""Found by the Sigma property test: a `|re` modifier with a number for its pattern
(`CommandLine|re: 5`) crashed the compiler with an AttributeError; it is refused with a
reason, like every other rule the detection engine cannot run."""

from __future__ import annotations

import uuid

import pytest
import yaml

from endpoints.detection.engine import compile_rule
from endpoints.detection.errors import RuleError


def test_a_numeric_regex_is_refused_with_a_reason():
    rule = {
        "title": "numeric regex",
        "id": str(uuid.uuid4()),
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {"selection": {"CommandLine|re": 5}, "condition": "selection"},
        "level": "high",
    }
    with pytest.raises(RuleError, match="re modifier"):
        compile_rule(yaml.safe_dump(rule))
