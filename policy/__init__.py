"""The platform's policy as code.

- `rules.py`: the rules (pure functions over normalized resource records) and their
  enforcement per tier; the only copy.
- `__main__.py`: the CrossGuard pack `platform-baseline` wrapping those rules, for
  `pulumi preview --policy-pack policy`.
- `PulumiPolicy.yaml`, `requirements.txt`: what the Pulumi CLI needs to run the pack.

`python -m infra check` (infra/review/check.py) runs the same rules over an offline plan or a
`pulumi preview --json`.
"""

# The rule table first: policy/constraints.py extends it and reads from it.
from policy import rules as _rules  # noqa: E402,F401
