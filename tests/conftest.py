"""Root fixtures. Each app keeps its fixtures in tests/fixtures/<app>.py (loaded here)."""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)
