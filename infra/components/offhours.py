"""Off-hours: an environment that only runs while people work (dev).

Creates, with EventBridge Scheduler universal targets (AWS SDK calls, no Lambda to maintain):
- `{name}-offhours-role`: the role the schedules assume; trusted by scheduler.amazonaws.com
  for this account only, allowed exactly the stop/start calls below on exactly these
  resources (`{name}-offhours-policy`);
- for the database, if any: `{name}-offhours-db-stop` (rds:StopDBInstance at the end of
  the working day) and `{name}-offhours-db-start` (rds:StartDBInstance at its start);
- per EKS managed node group: `{name}-offhours-nodes-{key}-stop`, scaling it to 0 through
  eks:UpdateNodegroupConfig, and `{name}-offhours-nodes-{key}-start`, restoring its
  min/desired/max. Managed node groups are scaled through EKS, never through their Auto
  Scaling group, which EKS would reset;
- per node group the Cluster Autoscaler manages (its Auto Scaling group given):
  `{name}-offhours-nodes-{key}-pause`, setting the group's `platform/autoscaler` tag to
  `paused` AUTOSCALER_PAUSE_LEAD_MINUTES before the stop, and `{name}-offhours-nodes-{key}-resume`,
  setting it back to `enabled` at the start. A paused group is neither discovered by the
  autoscaler nor scalable by its role (infra/components/scaling.py), so the pods the stop
  evicts cannot bring a node back; in the morning the start restores the sizes and the
  autoscaler takes over within them.

The schedules fire on working days only (e.g. MON-FRI), in the working hours' time zone
(daylight saving included), so a Friday-evening stop lasts until Monday morning.

Outputs: schedule_names (every schedule's name), role_arn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pulumi
import pulumi_aws as aws

from infra.components._shared import AUTOSCALER_ENABLED, AUTOSCALER_PAUSED, AUTOSCALER_TAG, service_role_trust
from infra.config import WorkingHours

RDS_STOP = "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance"
RDS_START = "arn:aws:scheduler:::aws-sdk:rds:startDBInstance"
EKS_SCALE = "arn:aws:scheduler:::aws-sdk:eks:updateNodegroupConfig"
ASG_TAG = "arn:aws:scheduler:::aws-sdk:autoscaling:createOrUpdateTags"
# The autoscaler re-reads its groups' tags about once a minute: paused well before the
# stop, it has let go of the group when the stop drains the nodes.
AUTOSCALER_PAUSE_LEAD_MINUTES = 5


class NodeGroupScaling(NamedTuple):
    """A managed node group to scale to zero off-hours, and the sizes it gets back."""

    cluster_name: pulumi.Input[str]
    # The group's EKS name as the group reports it (Cluster.node_group_names), never one
    # rebuilt from config: EKS gives a replaced group a new name, and a schedule holding the
    # old one would scale nothing (and the policy below would allow the wrong group).
    node_group_name: pulumi.Input[str]
    min_size: int
    desired_size: int
    max_size: int
    # Short kebab key for the schedules' logical names (the group's config name); the
    # group's position (1-based) when absent.
    key: str | None = None
    # The group's Auto Scaling group (Cluster.autoscaling_group_names) when the Cluster
    # Autoscaler manages it: paused before the stop, resumed at the start.
    autoscaling_group_name: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class OffHoursArgs:
    working_hours: WorkingHours
    # The RDS instance to stop, or None.
    db_instance_identifier: pulumi.Input[str] | None = None
    node_groups: Sequence[NodeGroupScaling | tuple] = ()


def cron(hhmm: str, days: str) -> str:
    """EventBridge Scheduler cron for `HH:MM` on `days` (MON-FRI, MON-SAT, MON-SUN).

    Six fields: minutes hours day-of-month month day-of-week year; one of the two day
    fields must be `?`.
    """
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return f"cron({minutes} {hours} ? * {days} *)"


def stop_expression(hours: WorkingHours) -> str:
    return cron(hours.stop, hours.days)


def pause_expression(hours: WorkingHours) -> str:
    """AUTOSCALER_PAUSE_LEAD_MINUTES before the stop, the same days (a working day is at
    least an hour long, so it never crosses midnight)."""
    h, m = (int(part) for part in hours.stop.split(":"))
    minutes = h * 60 + m - AUTOSCALER_PAUSE_LEAD_MINUTES
    return cron(f"{minutes // 60:02d}:{minutes % 60:02d}", hours.days)


def start_expression(hours: WorkingHours) -> str:
    return cron(hours.start, hours.days)


class OffHours(pulumi.ComponentResource):
    schedule_names: pulumi.Output[list[str]]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: OffHoursArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:offhours:OffHours", name, None, opts)
        # validate
        groups = [NodeGroupScaling(*g) for g in args.node_groups]
        if args.db_instance_identifier is None and not groups:
            raise ValueError("off-hours needs a database or at least one node group to schedule")
        for i, g in enumerate(groups):
            if not 0 <= g.min_size <= g.desired_size <= g.max_size or g.max_size < 1:
                # The key or the position: the name may be an Output (read back from the group).
                raise ValueError(f"node group {g.key or i + 1}: need 0 <= min <= desired <= max and max >= 1")
        keys = [g.key or str(i + 1) for i, g in enumerate(groups)]
        if len(set(keys)) != len(keys):
            raise ValueError(f"node group keys must be unique: {', '.join(keys)}")

        # derive
        hours = args.working_hours
        stop_at, start_at, pause_at = stop_expression(hours), start_expression(hours), pause_expression(hours)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        account = aws.get_caller_identity_output(opts=invoke).account_id

        def arn(service: str, resource: pulumi.Input[str]) -> pulumi.Output[str]:
            return pulumi.Output.concat("arn:", partition, f":{service}:", region, ":", account, ":", resource)

        statements = []
        if args.db_instance_identifier is not None:
            statements.append(
                {
                    "Sid": "StopStartTheDatabase",
                    "Effect": "Allow",
                    "Action": ["rds:StopDBInstance", "rds:StartDBInstance"],
                    "Resource": arn("rds", pulumi.Output.concat("db:", args.db_instance_identifier)),
                }
            )
        if groups:
            statements.append(
                {
                    "Sid": "ScaleTheNodeGroups",
                    "Effect": "Allow",
                    "Action": "eks:UpdateNodegroupConfig",
                    # nodegroup/<cluster>/<group>/<uuid>: the uuid is EKS's, hence the wildcard.
                    "Resource": [arn("eks", pulumi.Output.concat("nodegroup/", g.cluster_name, "/", g.node_group_name, "/*")) for g in groups],
                }
            )
        paused = [g for g in groups if g.autoscaling_group_name is not None]
        if paused:
            statements.append(
                {
                    "Sid": "PauseAndResumeTheAutoscaler",
                    "Effect": "Allow",
                    "Action": "autoscaling:CreateOrUpdateTags",
                    # autoScalingGroup:<uuid>:autoScalingGroupName/<name>; the uuid is AWS's.
                    "Resource": [arn("autoscaling", pulumi.Output.concat("autoScalingGroup:*:autoScalingGroupName/", g.autoscaling_group_name)) for g in paused],
                    # That one tag and no other.
                    "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": [AUTOSCALER_TAG]}},
                }
            )

        # children
        role = aws.iam.Role(
            f"{name}-offhours-role",
            description=f"{name}: EventBridge Scheduler stops and starts the environment off-hours",
            assume_role_policy=service_role_trust("scheduler.amazonaws.com", account),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-offhours-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
            opts=child,
        )
        # The schedules fail until the role may act; a schedule created first would fire
        # with a role that cannot.
        scheduled = pulumi.ResourceOptions(parent=self, depends_on=[policy])

        def schedule(role_name: str, what: str, expression: str, target: str, payload: pulumi.Output[str]) -> aws.scheduler.Schedule:
            return aws.scheduler.Schedule(
                f"{name}-offhours-{role_name}",
                description=f"{name}: {what}",
                schedule_expression=expression,
                schedule_expression_timezone=hours.timezone,
                # Exactly on time: people arrive to a running environment.
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                state="ENABLED",
                target=aws.scheduler.ScheduleTargetArgs(
                    arn=target,
                    role_arn=role.arn,
                    input=payload,
                    # A missed stop or start is worth retrying for an hour, not for a day.
                    retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(maximum_event_age_in_seconds=3600, maximum_retry_attempts=10),
                ),
                opts=scheduled,
            )

        schedules: list[aws.scheduler.Schedule] = []
        if args.db_instance_identifier is not None:
            # Universal targets take the SDK model's member names (DbInstanceIdentifier), not
            # the RDS query API's (DBInstanceIdentifier); CreateSchedule rejects the latter.
            db_input = pulumi.Output.json_dumps({"DbInstanceIdentifier": args.db_instance_identifier})
            schedules.append(schedule("db-stop", f"stop the database at {hours.stop} {hours.days}", stop_at, RDS_STOP, db_input))
            schedules.append(schedule("db-start", f"start the database at {hours.start} {hours.days}", start_at, RDS_START, db_input))
        for key, g in zip(keys, groups):
            def scaling(min_size: int, desired: int, g: NodeGroupScaling = g) -> pulumi.Output[str]:
                # PascalCase member names, as the SDK model has them (the REST API's are camelCase).
                return pulumi.Output.json_dumps(
                    {
                        "ClusterName": g.cluster_name,
                        "NodegroupName": g.node_group_name,
                        # EKS requires MaxSize >= 1 even when nothing runs.
                        "ScalingConfig": {"MinSize": min_size, "DesiredSize": desired, "MaxSize": g.max_size},
                    }
                )

            schedules.append(schedule(f"nodes-{key}-stop", f"scale node group {key} to 0 at {hours.stop} {hours.days}", stop_at, EKS_SCALE, scaling(0, 0)))
            schedules.append(
                schedule(f"nodes-{key}-start", f"restore node group {key} at {hours.start} {hours.days}", start_at, EKS_SCALE, scaling(g.min_size, g.desired_size))
            )
            if g.autoscaling_group_name is not None:
                def autoscaler(value: str, g: NodeGroupScaling = g) -> pulumi.Output[str]:
                    return pulumi.Output.json_dumps(
                        {
                            "Tags": [
                                {"ResourceId": g.autoscaling_group_name, "ResourceType": "auto-scaling-group", "Key": AUTOSCALER_TAG, "Value": value, "PropagateAtLaunch": False}
                            ]
                        }
                    )

                lead = AUTOSCALER_PAUSE_LEAD_MINUTES
                schedules.append(
                    schedule(f"nodes-{key}-pause", f"pause the autoscaler on node group {key} {lead} min before {hours.stop} {hours.days}", pause_at, ASG_TAG, autoscaler(AUTOSCALER_PAUSED))
                )
                schedules.append(
                    schedule(f"nodes-{key}-resume", f"resume the autoscaler on node group {key} at {hours.start} {hours.days}", start_at, ASG_TAG, autoscaler(AUTOSCALER_ENABLED))
                )

        # outputs
        self.schedule_names = pulumi.Output.all(*[s.name for s in schedules])
        self.role_arn = role.arn
        self.register_outputs({"schedule_names": self.schedule_names, "role_arn": self.role_arn})

