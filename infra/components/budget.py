"""The environment's AWS Budgets monthly cost budget.

Creates:
- `{name}-monthly`: a COST budget, MONTHLY, of `platform:budget.monthly_limit_usd` USD,
  counting only costs tagged `Environment=<environment>` (every resource of the program
  carries that tag). With `alert_emails` it notifies them when ACTUAL spend passes
  `actual_threshold_pct` and when the FORECAST passes `forecast_threshold_pct` of the limit;
  with none (allowed in development only) it just tracks.

The tag filter only sees costs once `Environment` is an activated cost allocation tag in
the billing (payer) account: an account-wide, one-time setting this program does not own,
since several stacks share it and deleting one must not deactivate it for the others.

A budget without actions is free (prices.yaml `budget`). Outputs: budget_name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.config import BudgetConfig


@dataclass(frozen=True)
class BudgetArgs:
    config: BudgetConfig
    # The `Environment` tag value the budget counts (StackConfig.environment).
    environment: str
    tags: Mapping[str, str] = field(default_factory=dict)


class Budget(pulumi.ComponentResource):
    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:budget:Budget", name, None, opts)
        # validate: the sections are validated when the config loads; the tag value is ours.
        if not args.environment:
            raise ValueError("Budget needs the environment whose `Environment` tag it counts")

        # derive
        cfg = args.config
        notifications = [
            aws.budgets.BudgetNotificationArgs(
                notification_type=kind,
                comparison_operator="GREATER_THAN",
                threshold=float(pct),
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=list(cfg.alert_emails),
            )
            for kind, pct in (("ACTUAL", cfg.actual_threshold_pct), ("FORECASTED", cfg.forecast_threshold_pct))
            # AWS rejects a notification without subscribers: no addresses, no notifications.
            if cfg.alert_emails
        ]

        # create children
        budget = aws.budgets.Budget(
            f"{name}-monthly",
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{cfg.monthly_limit_usd:.2f}",
            limit_unit="USD",
            # Cost allocation tags are filtered as `user:<key>$<value>`.
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:Environment${args.environment}"])],
            notifications=notifications,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )

        # outputs
        self.budget_name = budget.name
        self.register_outputs({"budget_name": self.budget_name})
