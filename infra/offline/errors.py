"""What the offline harness raises when it refuses what the Pulumi engine refuses.

The rules live in `infra.offline.mocks.RecordingMonitor` (docs/offline-engine.md lists each
with its engine source). The message is the engine's own, formatted as the engine formats
it, so `python -m infra plan` prints the line `pulumi up` would print after `error: `.
"""

from __future__ import annotations

import pulumi


class EngineError(pulumi.RunError):
    """One registration (or invoke) the Pulumi engine would refuse.

    A `pulumi.RunError`, like `ConfigError`: the language host prints its message, no traceback.
    `rule` names the rule (docs/offline-engine.md), `source` where the engine enforces it.
    """

    def __init__(self, message: str, *, rule: str, source: str):
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.source = source

    def __str__(self) -> str:
        return self.message
