"""The stack's config: pydantic models of everything under `platform:` and their loading.

A stack file (`Pulumi.<stack>.yaml`) is the one place an environment's sizing lives. Each
section below is a structured config object (`platform:network`, `platform:cluster`, ...);
every field declares its default, range and meaning where it is defined, and the defaults
are the safe ones, so a stack file only says where an environment is allowed to be less.

Bad input never reaches a resource: `load()` raises `ConfigError` (a `pulumi.RunError`, so
the engine prints its one line without a traceback) before anything is registered, naming
the key (`platform:network.cidr`) and what is allowed.

This module imports no component; the components receive the validated sections.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from infra import cidr, cron
from infra import prices

PROJECT = "platform"

# Every config key that holds a secret. Set them with `pulumi config set --secret`; the
# program refuses one stored in plain text, and the offline plan substitutes a placeholder.
SECRET_KEYS = ("cloudflare_api_token", "stripe_secret_key", "sendgrid_api_key", "slack_webhook_url", "pagerduty_routing_key", "sentry_dsn")

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy API).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# CIS EKS 2.1.1 / FSBP EKS.8: the audit trail of who did what to the cluster is not optional.
EKS_REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")


class ConfigError(pulumi.RunError):
    """One line naming the config key and what is allowed. Raised before any resource exists."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


# ---------------------------------------------------------------------------- field types


def _check_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of the CloudWatch Logs retention periods {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return days


def _check_private_cidr(value: str) -> str:
    net = cidr.parse_network(value)
    if not net.is_private:
        raise ValueError(f"{value} is not a private (RFC 1918) range")
    return str(net)


def _check_public_access_cidr(value: str) -> str:
    net = cidr.parse_network(value)
    if net.prefixlen < 8:
        # 0.0.0.0/0 and its near relatives make the endpoint public in all but name.
        raise ValueError(f"{value} opens the API endpoint to the internet; list office/VPN ranges of /8 or narrower")
    return str(net)


def _in_catalogue(family: Literal["ec2", "rds_postgres", "elasticache"], what: str):
    def check(value: str) -> str:
        known = prices.known_skus(family)
        if value not in known:
            raise ValueError(f"unknown {what} '{value}'; allowed: {', '.join(sorted(known))}")
        return value

    return AfterValidator(check)


def _hhmm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"'{value}' is not a 24-hour HH:MM time")
    return value


def _scale_down_duration(value: str) -> str:
    # What the autoscaler's flags take (Go's time.ParseDuration), held to whole hours,
    # minutes and seconds between 1 minute and 24 hours: shorter thrashes nodes, longer
    # never gives a node back.
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    if not value or match is None:
        raise ValueError(f"'{value}' is not a duration like 10m, 1h or 1h30m")
    seconds = sum(int(n or 0) * unit for n, unit in zip(match.groups(), (3600, 60, 1)))
    if not 60 <= seconds <= 86400:
        raise ValueError(f"'{value}' must be between 1m and 24h")
    return value


def _window(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"'{value}' is not a UTC window like 03:00-04:00")
    return value


def _maintenance_window(value: str) -> str:
    day = "(mon|tue|wed|thu|fri|sat|sun)"
    if not re.fullmatch(rf"{day}:([01]\d|2[0-3]):[0-5]\d-{day}:([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"'{value}' is not a UTC window like sun:04:30-sun:05:30")
    return value


LogRetention = Annotated[int, AfterValidator(_check_retention)]
PrivateCidr = Annotated[str, AfterValidator(_check_private_cidr)]
PublicAccessCidr = Annotated[str, AfterValidator(_check_public_access_cidr)]
Ec2InstanceType = Annotated[str, _in_catalogue("ec2", "EC2 instance type")]
DbInstanceClass = Annotated[str, _in_catalogue("rds_postgres", "RDS instance class")]
CacheNodeType = Annotated[str, _in_catalogue("elasticache", "ElastiCache node type")]
Hhmm = Annotated[str, AfterValidator(_hhmm)]
ScaleDownDuration = Annotated[str, AfterValidator(_scale_down_duration)]
BackupWindow = Annotated[str, AfterValidator(_window)]
MaintenanceWindow = Annotated[str, AfterValidator(_maintenance_window)]
KebabName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")]
RoleArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
# A DNS label relative to the zone, or "@" for the apex.
RecordName = Annotated[str, Field(pattern=r"^(@|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$")]


class _Section(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------- sections


class SubnetSizes(_Section):
    """Prefix length of each tier's subnet in every AZ."""

    # Nodes and, with the VPC CNI, every pod take an address here: /19 = 8,190 per AZ.
    private: int = Field(19, ge=16, le=27)
    # Only load balancers and NAT gateways live here.
    public: int = Field(24, ge=16, le=28)
    # Data stores only: RDS and ElastiCache need a handful of addresses per AZ.
    isolated: int = Field(24, ge=16, le=28)


class NetworkConfig(_Section):
    """`platform:network`: the VPC and its three subnet tiers."""

    # Private (RFC 1918) and distinct per environment so that VPCs can be peered later.
    cidr: PrivateCidr
    # EKS and Multi-AZ RDS need subnets in at least two AZs; us-east-1 has six.
    az_count: int = Field(3, ge=2, le=6)
    # one_per_az keeps each AZ's egress alive when another AZ fails; single saves a NAT
    # gateway and its public IPv4 per extra AZ ($36.50/month at us-east-1 list prices: the
    # cost model's `network` lines) for environments that can take that risk.
    nat_gateways: Literal["single", "one_per_az"] = "one_per_az"
    subnet_prefix: SubnetSizes = SubnetSizes()
    flow_logs_retention_days: LogRetention = 365
    # REJECT alone misses the accepted flows an incident review needs.
    flow_logs_traffic: Literal["ALL", "REJECT"] = "ALL"

    def subnet_plan(self) -> cidr.SubnetPlan:
        sizes = self.subnet_prefix
        return cidr.plan_subnets(self.cidr, self.az_count, {"private": sizes.private, "public": sizes.public, "isolated": sizes.isolated})


class Taint(_Section):
    key: str = Field(min_length=1, max_length=63)
    value: str = Field("", max_length=63)
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]


class NodeGroupConfig(_Section):
    """One EKS managed node group in the private subnets."""

    name: KebabName
    instance_types: list[Ec2InstanceType] = Field(min_length=1, max_length=10)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    min_size: int = Field(ge=0, le=100)
    desired_size: int = Field(ge=0, le=100)
    max_size: int = Field(ge=1, le=100)
    disk_size_gb: int = Field(50, ge=20, le=1000)
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    # Scale to zero outside `platform:working_hours` (dev only runs when people work).
    scale_to_zero_off_hours: bool = False
    # The size the autoscaler is expected to run the group at on average, for the cost
    # estimate only (the cluster starts at desired_size and the autoscaler moves it between
    # min_size and max_size). Unset: desired_size.
    expected_size: int | None = Field(None, ge=0, le=100)

    @model_validator(mode="after")
    def _sizes_ordered(self) -> NodeGroupConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is above max_size ({self.max_size})")
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(f"desired_size ({self.desired_size}) must be between min_size ({self.min_size}) and max_size ({self.max_size})")
        if self.expected_size is not None and not self.min_size <= self.expected_size <= self.max_size:
            raise ValueError(f"expected_size ({self.expected_size}) must be between min_size ({self.min_size}) and max_size ({self.max_size})")
        return self

    @model_validator(mode="after")
    def _tag_roles_distinct(self) -> NodeGroupConfig:
        # Each label and taint becomes a tag on the group's Auto Scaling group, named after
        # its key (infra/components/scaling.py): two keys must not name the same tag.
        for kind, keys in (("label", list(self.labels)), ("taint", [t.key for t in self.taints])):
            roles = [tag_role(k) for k in keys]
            clash = sorted({k for k in keys if roles.count(tag_role(k)) > 1})
            if clash:
                raise ValueError(
                    f"{kind} key(s) {', '.join(clash)} collide: each {kind} becomes one autoscaler node-template tag, so a key appears once and differs from the others in more than punctuation"
                )
        return self

    @property
    def priced_size(self) -> int:
        """The node count the cost estimate prices (expected_size, else desired_size)."""
        return self.desired_size if self.expected_size is None else self.expected_size


class AutoscalerConfig(_Section):
    """`platform:cluster.autoscaler`: how the Cluster Autoscaler gives nodes back.

    The defaults are the autoscaler's own (cluster-autoscaler FAQ, "What are the parameters
    to CA?"), written here so a stack file shows what it changes.
    """

    # After a scale-up, how long before scale-down is considered at all: a burst that just
    # brought a node up does not lose it a minute later.
    scale_down_delay_after_add: ScaleDownDuration = "10m"
    # How long a node must stay unneeded before it is removed.
    scale_down_unneeded_time: ScaleDownDuration = "10m"
    # A node whose pods request less than this share of its allocatable CPU and memory is
    # a scale-down candidate. 0.5: the autoscaler's default.
    scale_down_utilization_threshold: float = Field(0.5, gt=0, lt=1)


class ClusterConfig(_Section):
    """`platform:cluster`: EKS control plane and its managed node groups."""

    # Empty means the API endpoint is private only (reachable from the VPC / VPN).
    public_access_cidrs: list[PublicAccessCidr] = []
    log_types: list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]] = list(EKS_LOG_TYPES)
    log_retention_days: LogRetention = 365
    node_groups: list[NodeGroupConfig] = Field(min_length=1)
    autoscaler: AutoscalerConfig = AutoscalerConfig()
    # How the platform's own replicated pods (Traefik, the load balancer controller,
    # metrics-server) spread over the Availability Zones: `required` never puts two replicas
    # in one zone while another zone has room (DoNotSchedule), so one zone's loss leaves a
    # replica; `preferred` (ScheduleAnyway) lets a one-node environment run at all.
    zone_spread: Literal["required", "preferred"] = "required"

    @field_validator("log_types")
    @classmethod
    def _audit_logs_kept(cls, value: list[str]) -> list[str]:
        missing = [t for t in EKS_REQUIRED_LOG_TYPES if t not in value]
        if missing:
            raise ValueError(f"must include {', '.join(EKS_REQUIRED_LOG_TYPES)} (missing {', '.join(missing)})")
        return value

    @field_validator("node_groups")
    @classmethod
    def _unique_names(cls, groups: list[NodeGroupConfig]) -> list[NodeGroupConfig]:
        names = [g.name for g in groups]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"node group names must be unique (repeated: {', '.join(dupes)})")
        return groups


class DatabaseConfig(_Section):
    """`platform:database`: RDS PostgreSQL, in the isolated subnets."""

    instance_class: DbInstanceClass
    allocated_storage_gb: int = Field(ge=20, le=65536)
    # Storage autoscaling ceiling; 0 turns autoscaling off.
    max_allocated_storage_gb: int = Field(0, ge=0, le=65536)
    multi_az: bool = True
    # 7 days is FSBP RDS.11's floor; production tiers require 30 (point-in-time recovery window).
    backup_retention_days: int = Field(7, ge=1, le=35)
    backup_window: BackupWindow = "03:00-04:00"
    maintenance_window: MaintenanceWindow = "sun:04:30-sun:05:30"
    read_replicas: int = Field(0, ge=0, le=5)
    # Seconds a read replica may hold back WAL replay for a query it conflicts with before
    # cancelling that query (max_standby_streaming_delay and max_standby_archive_delay, in the
    # shared parameter group; a primary ignores them). PostgreSQL's 30 s cancels the data
    # copy's long transaction on the first conflicting lock replayed (a migration, vacuum
    # truncating a table); 900 lets a few minutes' dump finish, at the cost of up to 15 minutes
    # of lag while it does (the replica lag alarm sits above it: infra/alarms.py
    # replica_lag_threshold). 30-3600: -1 (wait forever) is
    # refused, a replica that serves reads must not fall behind without bound.
    standby_delay_seconds: int = Field(900, ge=30, le=3600)
    database_name: str = Field("app", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    # Not the engine default (FSBP RDS.25): a guessed admin name is half a credential.
    admin_username: str = Field("app_admin", pattern=r"^[a-z][a-z0-9_]{0,15}$")
    # Enhanced monitoring interval in seconds (FSBP RDS.6).
    monitoring_interval: Literal[1, 5, 10, 15, 30, 60] = 60
    # Stop outside `platform:working_hours` (dev only).
    stop_off_hours: bool = False
    # Bump (1 -> 2) to rotate the master password: `pulumi up` generates a new one, sets it
    # on the instance, in its secret and in the roles job's credential. The app never uses it.
    master_password_generation: int = Field(1, ge=1)
    # Bump to rotate the app's and the migrator's own passwords (infra/dbroles.py): the roles
    # job sets the new ones first, then the app's secrets change. Nothing rotates them on
    # its own, so no schedule can break the app's next connection.
    app_password_generation: int = Field(1, ge=1)
    # Off: a resize or a parameter change waits for `maintenance_window` instead of restarting
    # (or failing over) the database mid-day. The safe default; a stack where a mid-day
    # restart costs nothing (dev, staging) turns it on. A master password change applies at
    # once either way (ModifyDBInstance, MasterUserPassword).
    apply_immediately: bool = False
    # Off: RDS refuses a change of major version (ENGINE_VERSION / PARAMETER_FAMILY in
    # infra/components/database.py), so an upgrade is a reviewed change of the stack file too.
    # Turn it on for the deploy that upgrades, with apply_immediately (below), then off again.
    allow_major_version_upgrade: bool = False

    @field_validator("admin_username")
    @classmethod
    def _not_default_user(cls, value: str) -> str:
        if value in {"postgres", "admin", "root", "rdsadmin"}:
            raise ValueError(f"'{value}' is a default/reserved name; choose another (e.g. app_admin)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> DatabaseConfig:
        if self.max_allocated_storage_gb and self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ValueError(
                f"max_allocated_storage_gb ({self.max_allocated_storage_gb}) is below allocated_storage_gb ({self.allocated_storage_gb}); use 0 to turn autoscaling off"
            )
        if self.stop_off_hours and self.read_replicas:
            raise ValueError("stop_off_hours cannot be used with read_replicas: RDS cannot stop an instance that has replicas")
        if self.allow_major_version_upgrade and not self.apply_immediately:
            # A deferred upgrade leaves the old-family parameter group attached until the
            # window, and Pulumi's delete of it (after the new one is in place) fails with
            # InvalidDBParameterGroupState half-way through the deployment.
            raise ValueError(
                "allow_major_version_upgrade needs apply_immediately: an upgrade deferred to the maintenance window keeps the old parameter group attached, and deleting it fails"
            )
        return self


class CacheConfig(_Section):
    """`platform:cache`: an ElastiCache Redis OSS replication group, in the isolated subnets."""

    node_type: CacheNodeType
    # Primary plus replicas.
    num_nodes: int = Field(2, ge=1, le=6)
    automatic_failover: bool = True
    multi_az: bool = True
    # ElastiCache.1 wants at least one day of automatic backups.
    snapshot_retention_days: int = Field(7, ge=0, le=35)
    snapshot_window: BackupWindow = "05:00-06:00"
    maintenance_window: MaintenanceWindow = "sun:06:30-sun:07:30"
    # A year, like every log of a production tier (its floor below); slow-log entries are for
    # tuning, not audit, so a stack below production may keep them a month.
    slow_log_retention_days: LogRetention = 365
    # Off: a node-type or replica change waits for `maintenance_window` instead of failing
    # over mid-day. The safe default; dev and staging turn it on.
    apply_immediately: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> CacheConfig:
        if self.num_nodes > 1 and not self.automatic_failover:
            raise ValueError(f"num_nodes is {self.num_nodes} but automatic_failover is off: replicas without failover are paid for and never used; turn automatic_failover on or set num_nodes to 1")
        if self.automatic_failover and self.num_nodes < 2:
            raise ValueError("automatic_failover needs num_nodes >= 2 (a primary and a replica)")
        if self.multi_az and not self.automatic_failover:
            raise ValueError("multi_az needs automatic_failover (and num_nodes >= 2)")
        return self


class DnsConfig(_Section):
    """`platform:dns`: Cloudflare records pointing at the environment's load balancer."""

    domain: str = Field(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
    # The Cloudflare zone id of `domain` (32 hex characters, Overview page of the zone).
    zone_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    # API hostnames: DNS-only (not proxied), so clients reach the load balancer's TLS directly.
    api_records: list[RecordName] = Field(min_length=1)
    # Web hostnames: proxied through Cloudflare (CDN, WAF).
    web_records: list[RecordName] = Field(min_length=1)
    # Add `*.<domain>` to the load balancer's certificate, so the review environments' one-label
    # hostnames in this stack's cluster (pr-<n>-api-dev.<domain>, review/) get TLS from the
    # same NLB. Off: a wildcard covers every name of the zone, so only the development tier
    # that hosts review environments may ask for it.
    review_wildcard: bool = False

    @model_validator(mode="after")
    def _distinct(self) -> DnsConfig:
        clash = set(self.api_records) & set(self.web_records)
        if clash:
            raise ValueError(f"{', '.join(sorted(clash))} listed as both an API and a web record")
        return self

    def fqdn(self, record: str) -> str:
        return self.domain if record == "@" else f"{record}.{self.domain}"


class AppConfig(_Section):
    """`platform:app`: namespaces and the runtime config the app reads (ConfigMap `app-config`)."""

    node_env: Literal["development", "staging", "production"]
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    rate_limit_enabled: bool = True
    # mock: clearly fake Stripe/SendGrid keys, no stack secret needed (dev).
    # test / live: `platform:stripe_secret_key` and `platform:sendgrid_api_key` must be set as secrets.
    external_services: Literal["mock", "test", "live"] = "live"
    jwt_expires_in: str = Field("24h", pattern=r"^\d+[smhd]$")
    jwt_refresh_expires_in: str = Field("7d", pattern=r"^\d+[smhd]$")
    # Origins allowed besides the web records (e.g. http://localhost:8081 for Expo in dev).
    extra_cors_origins: list[Annotated[str, Field(pattern=r"^https?://[^\s,]+$")]] = []
    feature_flags: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")], bool] = {}
    # One `dev-<user>` namespace each, besides `app`.
    developers: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")]] = []
    # Pod Security Standards level enforced on the app namespaces.
    pod_security: Literal["restricted", "baseline"] = "restricted"

    @property
    def namespaces(self) -> list[str]:
        """`app`, then one `dev-<user>` per developer, in config order."""
        return ["app", *(f"dev-{user}" for user in self.developers)]


class WorkingHours(_Section):
    """`platform:working_hours`: when an environment that sleeps is awake."""

    timezone: str = "UTC"
    days: Literal["MON-FRI", "MON-SAT", "MON-SUN"] = "MON-FRI"
    start: Hhmm = "08:00"
    stop: Hhmm = "20:00"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Madrid)") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.start >= self.stop:
            raise ValueError(f"start ({self.start}) must be before stop ({self.stop})")
        (h1, m1), (h2, m2) = ((int(x) for x in t.split(":")) for t in (self.start, self.stop))
        # The autoscaler is paused minutes before the stop (infra/components/offhours.py).
        if (h2 * 60 + m2) - (h1 * 60 + m1) < 60:
            raise ValueError(f"the working day {self.start}-{self.stop} must be at least an hour long")
        return self

    def awake_at(self, moment: datetime.datetime) -> bool:
        """Whether `moment` (timezone-aware) falls in these hours, in their own time zone."""
        local = moment.astimezone(zoneinfo.ZoneInfo(self.timezone))
        days = {"MON-FRI": 5, "MON-SAT": 6, "MON-SUN": 7}[self.days]
        return local.weekday() < days and self.start <= local.strftime("%H:%M") < self.stop

    def describe(self) -> str:
        return f"{self.days} {self.start}-{self.stop} {self.timezone}"


class ProtectionConfig(_Section):
    """`platform:protection`: how hard it is to lose the data stores (database, cache, keys, secrets)."""

    # Pulumi `protect`: no `pulumi up`/`destroy` may delete or replace them.
    protect: bool = True
    # Pulumi `retainOnDelete`: if they leave the program, they stay in AWS.
    retain_on_delete: bool = True
    # RDS deletion protection (the AWS API refuses to delete).
    deletion_protection: bool = True
    # Snapshot RDS and ElastiCache when they are deleted; RDS also keeps its automated
    # backups then (point-in-time recovery after a deletion).
    final_snapshots: bool = True
    # Lets a change that replaces a stateful resource (an identity key below:
    # `_IDENTITY_KEYS`) through config load on a protected stack. Off: such a change would
    # delete the database and its data. Turn it on only in the reviewed change that replaces
    # them on purpose (Pulumi `protect` still refuses the replacement until protect is off).
    allow_stateful_replacement: bool = False

    @property
    def keeps_encrypted_backups(self) -> bool:
        """Whether deleting the data stores leaves data behind: final snapshots, and RDS's
        automated backups (kept exactly when final snapshots are)."""
        return self.final_snapshots

    @property
    def key_outlives_stack(self) -> bool:
        """Whether the KMS key is retained when it leaves the program (`pulumi destroy`).

        Derived, not configured: every snapshot and retained backup is encrypted with the key,
        and a key that KMS deletes 30 days after `pulumi destroy` makes them unrestorable. So
        the key stays whenever the data stores are retained or leave backups behind; a
        `retain_on_delete: false` stack that keeps final snapshots (staging) still deletes its
        instances, never the key that can read their snapshots.
        """
        return self.retain_on_delete or self.keeps_encrypted_backups


class AccountConfig(_Section):
    """`platform:account`: what the program sets up once per AWS account, not per environment."""

    # Create AWSServiceRoleForAutoScaling, the role that launches the nodes' encrypted volumes
    # and so needs the KMS key (granted in infra/components/keys.py). A fresh account has none
    # until its first Auto Scaling group, and KMS refuses to name a principal that does not
    # exist, so the first deploy into an empty account must create it: on by default. An
    # account that already has it (it ran an Auto Scaling group, an EKS node group, or another
    # stack of this program created it) must set false: CreateServiceLinkedRole fails there
    # ("has been taken in this account"). Once created it is retained on delete.
    create_autoscaling_service_linked_role: bool = True
    # The 12-digit AWS account the stack deploys into. The AWS provider refuses to act in any
    # other (`allowedAccountIds`), so credentials for the wrong account fail at the first call
    # instead of building an environment there. Required: it also decides which stacks share
    # an account-wide resource (below).
    id: AccountId
    # The stack of this program that creates the account's audit resources: the CloudTrail
    # trail and Session Manager's session logging (both exist once per account and region).
    # Unset: this stack. Stacks that share an account name one owner: a second trail in one
    # account bills every management event again ($2.00 per 100,000; CloudTrail pricing),
    # and Session Manager keeps one preferences document per account and region. Checked
    # against the other stack files at load (infra.config.audit_owner_problem).
    audit_owner: KebabName | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, int):
            raise ValueError(f"write the account id in quotes ('{value:012d}'): YAML reads a bare number and would drop a leading zero")
        return value


# Who may do what, per team (platform:access). The seed's teams; a new one is a code change
# because every team gets a role, an access entry and a line in the access matrix.
TEAMS = ("developers", "qa", "devops", "oncall", "break_glass")
# The teams that may hold write access in a production tier (the seed: "only DevOps and
# on-call have write access"), and the two that may hold cluster-wide admin there.
PRODUCTION_WRITERS = ("devops", "oncall", "break_glass")
PRODUCTION_CLUSTER_ADMINS = ("devops", "break_glass")
# EKS access policies take namespace names, and a prefix ending in `*` for every namespace
# that starts with it (dev-*): EKS user guide, grant-k8s-access.adoc, "Associate access
# policies with access entries". EKS does not check that they exist.
_NAMESPACE_PATTERN = re.compile(r"^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?|[a-z0-9][-a-z0-9]{0,61}\*)$")
# IAM Identity Center's roles: /aws-reserved/sso.amazonaws.com/[<region>/]AWSReservedSSO_<permission set>_<16 hex>.
_SSO_ROLE_PATTERN = re.compile(r"^arn:aws:iam::(\d{12}):role/aws-reserved/sso\.amazonaws\.com/(?:[a-z]{2}-[a-z]+-\d/)?AWSReservedSSO_[\w+=,.@-]+_\*$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/[\w+=,.@/-]+$")
_ACCOUNT_ROOT = re.compile(r"^arn:aws:iam::(\d{12}):root$")


def principal_kind(principal: str) -> Literal["sso", "role", "account"]:
    """How a team's principal assumes its role: `sso`, an IAM Identity Center permission set's
    role pattern (any of its per-account roles, matched by aws:PrincipalArn); `role`, one IAM
    role exactly; `account`, the account's IAM users with MFA (the trust policy's condition)."""
    if _SSO_ROLE_PATTERN.match(principal):
        return "sso"
    if "*" not in principal and _ROLE_ARN.match(principal):
        return "role"
    if _ACCOUNT_ROOT.match(principal):
        return "account"
    raise ValueError(
        f"'{principal}' is not a principal ARN; allowed: a role (arn:aws:iam::<account>:role/<name>), an IAM Identity Center "
        "role pattern (arn:aws:iam::<account>:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_<permission set>_*), "
        "or an account (arn:aws:iam::<account>:root, with MFA)"
    )


class TeamAccess(_Section):
    """One team's principal and what it may do in this environment. Least by default: a team
    named with no grants can read the cluster's description and nothing else."""

    # Who the team is: see principal_kind. Assumes the team's role in this environment.
    principal: str
    # Kubernetes, through EKS access entries (AWS's access policies): view, edit and admin are
    # AmazonEKSViewPolicy / EditPolicy / AdminPolicy on `namespaces`; cluster_admin is
    # AmazonEKSClusterAdminPolicy on the whole cluster; none: no access entry.
    cluster: Literal["none", "view", "edit", "admin", "cluster_admin"] = "none"
    # Where view, edit and admin apply: namespace names or prefixes ending in `*` (dev-*).
    namespaces: list[str] = ["app"]
    # PostgreSQL, with IAM authentication (no password): read_only logs in as
    # team_read_only, read_write as team_read_write (infra/dbroles.py).
    database: Literal["none", "read_only", "read_write"] = "none"
    # The AWS account, by AWS's job-function policies: view_only (ViewOnlyAccess: lists and
    # describes, reads no data), power_user (PowerUserAccess: all but IAM), administrator.
    aws: Literal["view_only", "power_user", "administrator"] = "view_only"
    # How long one session lasts (the role's MaxSessionDuration; IAM allows 1 to 12 hours).
    # Only IAM users (an `account` principal) can use more than 1: a role assumed from
    # another role's session (Identity Center's, or any role) is role chaining, which AWS
    # caps at one hour whatever the role says (IAM user guide, "Role chaining").
    max_session_hours: int = Field(1, ge=1, le=12)

    @field_validator("principal")
    @classmethod
    def _principal(cls, value: str) -> str:
        principal_kind(value)
        return value

    @model_validator(mode="after")
    def _chained_sessions_last_an_hour(self) -> "TeamAccess":
        if self.max_session_hours > 1 and principal_kind(self.principal) != "account":
            raise ValueError(
                f"max_session_hours {self.max_session_hours}: a {principal_kind(self.principal)} principal assumes the team role from a role session "
                "(role chaining), which AWS caps at 1 hour; leave it at 1, or use an account principal (IAM users with MFA)"
            )
        return self

    @field_validator("namespaces")
    @classmethod
    def _namespace_patterns(cls, value: list[str]) -> list[str]:
        for ns in value:
            if not _NAMESPACE_PATTERN.match(ns):
                raise ValueError(f"'{ns}' is not a namespace name or a prefix ending in * (dev-*)")
        return value

    @property
    def writes(self) -> bool:
        """Whether the team can change anything: a Kubernetes object, a row, an AWS resource."""
        return self.cluster in ("edit", "admin", "cluster_admin") or self.database == "read_write" or self.aws != "view_only"


class AccessConfig(_Section):
    """`platform:access`: the teams (IAM role per team, EKS access entries, database logins)."""

    teams: dict[str, TeamAccess] = {}
    # The stack's CI deploy role (docs/ci.md, platform-deploy-<stack>): cluster-admin, so the
    # deploys on the runner reach the Kubernetes API. Not the identity that creates the
    # cluster (the last aws:assumeRoles role, or whoever ran phase 1): EKS's creator bootstrap
    # admits it, and a second entry for it collides (pulumi/pulumi-eks#2373).
    ci_deploy_role_arn: RoleArn | None = None
    # The stack's CI preview role (platform-preview-<stack>): AmazonEKSAdminViewPolicy on the
    # cluster, since a refresh reads StorageClasses, CRDs and Helm's release Secrets, which
    # AmazonEKSViewPolicy does not grant.
    ci_preview_role_arn: RoleArn | None = None

    @field_validator("teams", mode="before")
    @classmethod
    def _known_teams(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for team in value:
                if team not in TEAMS:
                    raise ValueError(f"'{team}' is not a team; allowed: {', '.join(TEAMS)}")
        return value


class AuditConfig(_Section):
    """`platform:audit`: the account's CloudTrail trail and Session Manager's session logs,
    built only by the stack that owns them (account.audit_owner)."""

    # Days the trail's log files stay in S3 (the bucket's lifecycle expires them after).
    # CloudTrail's own event history keeps 90 days; a year is CIS's minimum for audit logs.
    trail_retention_days: int = Field(365, ge=90, le=3653)
    # S3 Object Lock on the trail bucket, in days (0: none): COMPLIANCE mode, so no one, the
    # root user included, deletes or overwrites a log file younger than this. Turning it on
    # later is an in-place change (S3 user guide, "Enable Object Lock on an existing S3
    # bucket"); S3 never turns it off, and 0 on a locked bucket only drops the default
    # retention (production's floor refuses that).
    object_lock_days: int = Field(365, ge=0, le=3653)
    # Session Manager shell sessions (the only way onto a node: no SSH) are logged to a
    # KMS-encrypted CloudWatch log group kept this many days.
    session_log_retention_days: LogRetention = 365

    @model_validator(mode="after")
    def _lock_within_retention(self) -> "AuditConfig":
        if self.object_lock_days > self.trail_retention_days:
            raise ValueError(
                f"object_lock_days ({self.object_lock_days}) is longer than trail_retention_days ({self.trail_retention_days}): "
                "S3 cannot expire a locked log file, so the lifecycle would never run"
            )
        return self


# An image tag (the OCI distribution spec's tag grammar); `latest` is refused: a pinned tag
# is what makes a copy reproducible and a rollback possible.
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# S3 general purpose bucket names (S3 user guide, "General purpose bucket naming rules").
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class DataCopyConfig(_Section):
    """`platform:data_copy`: the weekly anonymized copy of prod's database into staging
    (docs/data.md). A production stack is its `source` (a CronJob dumps the read replica,
    masked, into a bucket of its own); a staging stack its `target` (a CronJob restores the
    newest dump into a new database and swaps it in). Absent: no copy (dev: seed fixtures)."""

    role: Literal["source", "target"]
    # Five-field cron, in `timezone` (the CronJob's spec.timeZone). No default: when the copy
    # runs is the stack file's to say (the seed: prod dumps Saturday 02:00, "0 2 * * 6").
    schedule: str
    # The IANA zone the schedule is read in. UTC by default: no daylight-saving hour that
    # runs twice or never.
    timezone: str = "UTC"
    # The tag of the copy's image in prod's ECR repository (infra/versions.py DATA_IMAGE_REPOSITORY),
    # pushed by .github/workflows/data-image.yml. Required: the program builds no image, and
    # an unpinned image would make two runs of the same config differ.
    image_tag: str
    # source: the account of the staging stack that restores (its restore role is
    # `platform-<target_environment>-data-restore` there, DataCopyTarget's).
    target_account_id: AccountId | None = None
    # source: the restoring stack's environment. Default staging: the only tier a copy may
    # be restored into.
    target_environment: KebabName = "staging"
    # source: days a dump stays in the bucket (the lifecycle expires it). 3 by default: long
    # enough for Saturday's restore, a retry and a look on Monday; short enough that a
    # dump outlives no deletion request by much. 1-30.
    keep_dumps_days: int = Field(3, ge=1, le=30)
    # target: the account and bucket of the source (prod's DataCopySource.bucket_name).
    source_account_id: AccountId | None = None
    source_bucket: str | None = None
    # Hours the copy's Job may run before Kubernetes stops it (activeDeadlineSeconds). 4 by
    # default: a dump of a few GB takes minutes; a stuck one must fail (and alert) before Monday.
    deadline_hours: int = Field(4, ge=1, le=24)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        problem = cron.problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Madrid, UTC)") from None
        return value

    @field_validator("image_tag")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not _IMAGE_TAG.match(value) or value == "latest":
            raise ValueError(f"'{value}' is not a pinned image tag; allowed: letters, digits, '_', '.', '-' (up to 128), not 'latest' (e.g. the commit's short sha)")
        return value

    @field_validator("source_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and not _BUCKET_NAME.match(value):
            raise ValueError(f"'{value}' is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')")
        return value

    @model_validator(mode="after")
    def _fields_of_the_role(self) -> "DataCopyConfig":
        mine = {"source": ("target_account_id",), "target": ("source_account_id", "source_bucket")}[self.role]
        theirs = {"source": ("source_account_id", "source_bucket"), "target": ("target_account_id", "target_environment", "keep_dumps_days")}[self.role]
        for key in mine:
            if getattr(self, key) is None:
                raise ValueError(f"{key} is required with role {self.role}")
        for key in theirs:
            if key in self.model_fields_set:
                raise ValueError(f"{key} is set, but it belongs to the other side's role; role {self.role} takes {', '.join(mine)}")
        return self


class MetricsConfig(_Section):
    """`platform:observability.metrics`: Prometheus (kube-prometheus-stack), its Alertmanager
    and exporters, and the long-term store in S3 (Thanos)."""

    # On by default: an environment nobody can see is not safe to run. Dev turns it off.
    enabled: bool = True
    # Days Prometheus keeps samples on its own volume (the seed: staging 30, prod 90). The
    # volume is sized from this (infra/telemetry.py prometheus_volume_gb).
    retention_days: int = Field(30, ge=1, le=365)
    # Days the long-term store (Thanos, S3) keeps them; 0: no long-term store. When set it
    # must outlast retention_days, or it would hold nothing Prometheus does not.
    long_term_days: int = Field(0, ge=0, le=3653)
    # Samples Prometheus ingests per second (series / scrape interval); sizes its volume and
    # the long-term bucket. A small EKS cluster with the default exporters and rules ingests
    # a few thousand (`rate(prometheus_tsdb_head_samples_appended_total[1h])` gives yours).
    samples_per_second: int = Field(5_000, ge=100, le=1_000_000)

    @model_validator(mode="after")
    def _long_term_outlasts_local(self) -> "MetricsConfig":
        if self.long_term_days and self.long_term_days <= self.retention_days:
            raise ValueError(
                f"long_term_days ({self.long_term_days}) must be longer than retention_days ({self.retention_days}), or 0 for no long-term store"
            )
        return self


class LogsConfig(_Section):
    """`platform:observability.logs`: Loki (S3 storage) and a log shipper on every node (Alloy)."""

    enabled: bool = True
    # Loki's compactor deletes what is older (limits_config.retention_period). Whole days:
    # retention needs the 24h index period and is at least 24h (Loki docs, "Log retention").
    retention_days: int = Field(7, ge=1, le=3653)
    # Loki's gp3 volume: its WAL and index cache, both flushed to S3 within hours. 5 GB holds
    # a small cluster's day; 10 a busy one's.
    volume_gb: int = Field(10, ge=5, le=1000)


class TracesConfig(_Section):
    """`platform:observability.traces`: Tempo (S3 storage) and its OTLP endpoint for the app."""

    enabled: bool = True
    # Tempo's compactor deletes blocks older than this (compactor.compaction.block_retention).
    retention_days: int = Field(3, ge=1, le=90)


class SlackRoute(_Section):
    """Alerts to a Slack channel through an incoming webhook (`platform:slack_webhook_url`, a secret)."""

    # The channel the webhook posts to, as Slack shows it (informational: the webhook decides).
    channel: str = Field(pattern=r"^#[a-z0-9][a-z0-9._-]{0,79}$")
    # Which severities reach it: the baseline rules label every alert critical or warning.
    severities: list[Literal["critical", "warning"]] = Field(["critical", "warning"], min_length=1)


class PagerDutyRoute(_Section):
    """Pages through a PagerDuty Events API v2 integration (`platform:pagerduty_routing_key`, a secret)."""

    # Only what needs a human now pages; warnings go to Slack.
    severities: list[Literal["critical", "warning"]] = Field(["critical"], min_length=1)


class AlertsConfig(_Section):
    """`platform:observability.alerts`: where Alertmanager and the CloudWatch alarms send alerts."""

    # Off by default: dev has nobody on call. When on, at least one destination is required.
    enabled: bool = False
    slack: SlackRoute | None = None
    pagerduty: PagerDutyRoute | None = None

    @model_validator(mode="after")
    def _destination(self) -> "AlertsConfig":
        if self.enabled and self.slack is None and self.pagerduty is None:
            raise ValueError("enabled without a destination: set slack, pagerduty or both (alerting never points at nothing)")
        if not self.enabled and (self.slack is not None or self.pagerduty is not None):
            raise ValueError("slack or pagerduty is set but enabled is false; set enabled: true or remove the destination")
        return self

    @property
    def destinations(self) -> list[str]:
        return [d for d in ("slack", "pagerduty") if getattr(self, d) is not None]


class UptimeConfig(_Section):
    """`platform:observability.uptime`: a Route 53 health check of the API's health URL."""

    enabled: bool = False
    # The API's health endpoint, on the first API record over HTTPS.
    path: str = Field("/health", pattern=r"^/[A-Za-z0-9._~/-]*$")
    # Route 53 checks from several regions every 30 s (10 s costs extra, "fast interval").
    request_interval_seconds: Literal[10, 30] = 30
    # Consecutive failures before a checker marks the endpoint unhealthy (Route 53: 1-10).
    failure_threshold: int = Field(3, ge=1, le=10)
    # Whether the check's alarm notifies (its alarm actions). True by default; false while an
    # environment is first built: this program deploys no app, so /health fails until CI has
    # deployed one, and a new prod would page from its first minutes. The check and the alarm
    # exist either way (the alarm's state and history show the failures); set it back to true
    # once the app answers.
    paging: bool = True


class ObservabilityConfig(_Section):
    """`platform:observability`: metrics, logs, traces, Grafana, alert routes, uptime and errors.

    Grafana runs whenever one of metrics, logs or traces is on. Secrets it reads:
    `platform:slack_webhook_url` and `platform:pagerduty_routing_key` (required with their
    route), `platform:sentry_dsn` (optional: the app's SENTRY_DSN).
    """

    metrics: MetricsConfig = MetricsConfig()
    logs: LogsConfig = LogsConfig()
    traces: TracesConfig = TracesConfig()
    alerts: AlertsConfig = AlertsConfig()
    uptime: UptimeConfig = UptimeConfig()
    # SENTRY_ENV in app-config (the seed: staging, production); unset: no SENTRY_ENV.
    sentry_environment: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,63}$")

    @model_validator(mode="after")
    def _consistent(self) -> "ObservabilityConfig":
        if self.alerts.enabled and not self.metrics.enabled:
            raise ValueError("alerts.enabled needs metrics.enabled: the baseline alert rules run in Prometheus and route through its Alertmanager")
        if self.uptime.enabled and not self.alerts.enabled:
            raise ValueError("uptime.enabled needs alerts.enabled: a failing uptime check must reach someone")
        return self

    @property
    def grafana(self) -> bool:
        return self.metrics.enabled or self.logs.enabled or self.traces.enabled


class BudgetConfig(_Section):
    """`platform:budget`: the AWS Budgets monthly cost budget and who hears about it."""

    monthly_limit_usd: float = Field(gt=0)
    alert_emails: list[Email] = []
    actual_threshold_pct: int = Field(80, ge=1, le=1000)
    forecast_threshold_pct: int = Field(100, ge=1, le=1000)


class CostAssumptions(_Section):
    """`platform:cost`: usage the price list cannot know; only the cost estimate reads these."""

    nat_processed_gb_per_month: float = Field(100, ge=0)
    log_ingest_gb_per_month: float = Field(10, ge=0)
    flow_log_ingest_gb_per_month: float = Field(5, ge=0)
    load_balancer_lcu: float = Field(1, ge=0)
    # The audit owner's trail (infra/components/audit.py): a month of gzipped CloudTrail log
    # files (AWS says a typical trail's S3 charges stay under $3/month), the PUTs that deliver
    # them (about one file per active Region every 5 minutes, plus an hourly digest per
    # Region), and the Session Manager logs ingested (break-glass shell sessions only).
    trail_log_gb_per_month: float = Field(1.0, ge=0)
    trail_put_requests_per_month: int = Field(50_000, ge=0)
    session_log_ingest_gb_per_month: float = Field(0.1, ge=0)
    # Observability (infra/telemetry.py): what Loki and Tempo write to S3 a day, compressed
    # (Loki's chunks run about a tenth of the raw log volume), the PUTs each telemetry
    # bucket takes a month (Loki flushes a chunk per stream every few minutes, Thanos a block
    # every 2 hours, Tempo a block per few minutes), and the alarm notifications the
    # forwarder Lambda delivers.
    log_stored_gb_per_day: float = Field(0.5, ge=0)
    trace_stored_gb_per_day: float = Field(0.2, ge=0)
    telemetry_put_requests_per_month: int = Field(300_000, ge=0)
    alert_notifications_per_month: int = Field(1_000, ge=0)
    # The anonymized copy's dump (infra/components/data_copy.py), compressed: masked COPY text
    # gzips to about a fifth of the database's size on disk. 2 GB by default: a young
    # product's database of ~10 GB. The bucket holds data_copy.keep_dumps_days' worth of
    # weekly dumps: one at a time.
    data_dump_gb: float = Field(2, ge=0)
    # GB the data copy's ECR repository stores: the distinct layers of the images it keeps
    # (infra/components/data_copy.py IMAGES_KEPT; ECR bills a layer shared by images once). 1
    # by default: the image is about 200 MB compressed and most of it (Python, psql, the
    # packages) is shared between versions.
    data_image_gb: float = Field(1, ge=0)


# The repository a runner serves, "owner/name" (GitHub's rules for both parts).
_GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
# AWS CodeConnections ARNs; connections made before 2024 carry the older codestar-connections prefix.
_CONNECTION_ARN = re.compile(r"arn:aws:(codeconnections|codestar-connections):[a-z]{2}-[a-z]+-\d:\d{12}:connection/[0-9a-f-]{36}")


class RunnerConfig(_Section):
    """`platform:runner`: the CI runner inside the VPC, an AWS CodeBuild-hosted GitHub Actions runner.

    A private EKS endpoint answers only inside the VPC, so the workflow jobs that preview,
    deploy or destroy the stack run on this CodeBuild project (docs/ci.md); jobs pick it with
    the label `codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}`.
    """

    # Unset: on exactly when the API endpoint is private (cluster.public_access_cidrs empty).
    enabled: bool | None = None
    # The repository whose queued workflow jobs start runner builds, "owner/name".
    github_repository: str
    # An AVAILABLE GitHub connection (AWS CodeConnections) the project authenticates with.
    connection_arn: str
    # The runner's size; CodeBuild bills per build minute by size (docs/ci.md: not in the estimate).
    compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"] = "BUILD_GENERAL1_SMALL"
    # A runner build lasts as long as its job: at least the longest job timeout (deploy: 90 minutes).
    build_timeout_minutes: int = Field(120, ge=5, le=2160)
    log_retention_days: LogRetention = 365

    @field_validator("github_repository")
    @classmethod
    def _owner_and_name(cls, value: str) -> str:
        if not _GITHUB_REPOSITORY.fullmatch(value):
            raise ValueError(f"'{value}' is not a GitHub repository 'owner/name'")
        return value

    @field_validator("connection_arn")
    @classmethod
    def _connection(cls, value: str) -> str:
        if not _CONNECTION_ARN.fullmatch(value):
            raise ValueError(f"'{value}' is not a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<id>)")
        return value

    def enabled_for(self, cluster: ClusterConfig) -> bool:
        """Whether the program builds the runner: as set, else when the endpoint is private."""
        return self.enabled if self.enabled is not None else not cluster.public_access_cidrs


class AwsSettings(_Section):
    """The `aws:` keys the program forwards to its explicit provider."""

    region: str = Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
    assume_roles: list[dict[str, Any]] = []
    profile: str | None = None

    @property
    def deploy_role_arn(self) -> str | None:
        """The role the program's AWS provider assumes last: the identity that deploys."""
        return self.assume_roles[-1].get("roleArn") if self.assume_roles else None

    @field_validator("region")
    @classmethod
    def _commercial_partition(cls, value: str) -> str:
        # Key policies, managed-policy and scheduler-target ARNs are written for the `aws`
        # partition; GovCloud (aws-us-gov), China (aws-cn) and the ISO partitions differ.
        partition = "aws-us-gov" if "-gov-" in value else "aws-cn" if value.startswith("cn-") else "aws-iso" if "-iso" in value else "aws"
        if partition != "aws":
            raise ValueError(f"'{value}' is in the {partition} partition; only regions of the commercial aws partition are supported")
        return value


class StackConfig(_Section):
    """Everything a stack file holds, validated."""

    environment: KebabName
    # The safety floor the environment must meet (validated below); never its sizing.
    tier: Literal["development", "staging", "production"]
    aws: AwsSettings
    tags: dict[str, str] = {}
    network: NetworkConfig
    cluster: ClusterConfig
    database: DatabaseConfig
    cache: CacheConfig
    dns: DnsConfig
    app: AppConfig
    budget: BudgetConfig
    protection: ProtectionConfig = ProtectionConfig()
    account: AccountConfig
    access: AccessConfig = AccessConfig()
    audit: AuditConfig = AuditConfig()
    # The anonymized copy of prod into staging (docs/data.md); absent: none.
    data_copy: DataCopyConfig | None = None
    observability: ObservabilityConfig = ObservabilityConfig()
    working_hours: WorkingHours | None = None
    cost: CostAssumptions = CostAssumptions()
    # The CI runner inside the VPC (docs/ci.md); absent: none.
    runner: RunnerConfig | None = None
    # Secret values, as pulumi Outputs marked secret (never plain strings).
    secrets: dict[str, Any] = {}

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        reserved = sorted(set(tags) & {"Project", "Environment", "ManagedBy"})
        if reserved:
            raise ValueError(f"{', '.join(reserved)} are set by the program and cannot be overridden")
        return tags

    def base_tags(self) -> dict[str, str]:
        return {**self.tags, "Project": PROJECT, "Environment": self.environment, "ManagedBy": "pulumi"}

    @property
    def owns_audit(self) -> bool:
        """Whether this stack builds the account's trail and session logging (account.audit_owner)."""
        return self.account.audit_owner in (None, self.environment)

    @property
    def name(self) -> str:
        """Base logical name of every component: `platform-<environment>`."""
        return f"{PROJECT}-{self.environment}"


# (key, predicate, what is required) for the production safety floor.
_PRODUCTION_FLOOR: tuple[tuple[str, Any, str], ...] = (
    ("database.multi_az", lambda c: c.database.multi_az, "must be true in a production tier"),
    ("database.backup_retention_days", lambda c: c.database.backup_retention_days >= 30, "must be at least 30 in a production tier (point-in-time recovery window)"),
    ("database.stop_off_hours", lambda c: not c.database.stop_off_hours, "must be false in a production tier"),
    ("cache.automatic_failover", lambda c: c.cache.automatic_failover, "must be true in a production tier"),
    ("cache.multi_az", lambda c: c.cache.multi_az, "must be true in a production tier"),
    ("cache.snapshot_retention_days", lambda c: c.cache.snapshot_retention_days >= 1, "must be at least 1 in a production tier"),
    ("protection.protect", lambda c: c.protection.protect, "must be true in a production tier"),
    ("protection.retain_on_delete", lambda c: c.protection.retain_on_delete, "must be true in a production tier"),
    ("protection.deletion_protection", lambda c: c.protection.deletion_protection, "must be true in a production tier"),
    ("protection.final_snapshots", lambda c: c.protection.final_snapshots, "must be true in a production tier"),
    # Every CloudWatch log group of a production tier is kept at least a year.
    ("network.flow_logs_retention_days", lambda c: c.network.flow_logs_retention_days >= 365, "must be at least 365 in a production tier (every log is kept a year)"),
    ("cluster.log_retention_days", lambda c: c.cluster.log_retention_days >= 365, "must be at least 365 in a production tier (every log is kept a year)"),
    ("cache.slow_log_retention_days", lambda c: c.cache.slow_log_retention_days >= 365, "must be at least 365 in a production tier (every log is kept a year)"),
    ("cluster.zone_spread", lambda c: c.cluster.zone_spread == "required", "must be required in a production tier (one zone's loss must leave a replica)"),
    # Where the stack owns the account's audit: kept a year, and locked against deletion.
    ("audit.trail_retention_days", lambda c: not c.owns_audit or c.audit.trail_retention_days >= 365, "must be at least 365 in a production tier (every log is kept a year)"),
    ("audit.object_lock_days", lambda c: not c.owns_audit or c.audit.object_lock_days >= 365, "must be at least 365 in a production tier (no one deletes a year of audit logs)"),
    ("audit.session_log_retention_days", lambda c: not c.owns_audit or c.audit.session_log_retention_days >= 365, "must be at least 365 in a production tier (every log is kept a year)"),
    # The seed's production monitoring: everything on, long-term metrics, paged 24/7.
    ("observability.metrics.enabled", lambda c: c.observability.metrics.enabled, "must be true in a production tier"),
    ("observability.metrics.long_term_days", lambda c: c.observability.metrics.long_term_days > 0, "must be above 0 in a production tier (long-term metrics in S3)"),
    ("observability.logs.enabled", lambda c: c.observability.logs.enabled, "must be true in a production tier"),
    ("observability.traces.enabled", lambda c: c.observability.traces.enabled, "must be true in a production tier"),
    ("observability.alerts.pagerduty", lambda c: c.observability.alerts.pagerduty is not None, "is required in a production tier (someone is paged 24/7)"),
    ("observability.uptime.enabled", lambda c: c.observability.uptime.enabled, "must be true in a production tier"),
)

_STAGING_FLOOR: tuple[tuple[str, Any, str], ...] = (
    ("protection.final_snapshots", lambda c: c.protection.final_snapshots, "must be true in a staging tier"),
)

# Config keys that feed a ForceNew input of a stateful resource (tests/test_stateful_forcenew.py
# lists every such input): (key, value, what changing it replaces, the value every committed
# stack runs: its default). Config load cannot see what was deployed, so a protected stack is
# held to that value; another one needs protection.allow_stateful_replacement.
_IDENTITY_KEYS: tuple[tuple[str, Any, str, Any], ...] = (
    ("database.database_name", lambda c: c.database.database_name, "the database (RDS dbName is ForceNew)", lambda stack: DatabaseConfig.model_fields["database_name"].default),
    ("database.admin_username", lambda c: c.database.admin_username, "the database (RDS username is ForceNew)", lambda stack: DatabaseConfig.model_fields["admin_username"].default),
    # Every logical name (URN) and the control-plane log group's name derive from it.
    ("environment", lambda c: c.environment, "every resource (URNs and the EKS log group name derive from it)", lambda stack: stack),
)

# EKS node group names are at most 63 characters; with node_group_name_prefix the provider
# appends a 26-character unique suffix (terraform-provider-aws id.PrefixedUniqueId).
NODE_GROUP_NAME_MAX = 63
NODE_GROUP_UNIQUE_SUFFIX = 26
# RDS final snapshot identifiers (DeleteDBInstance, FinalDBSnapshotIdentifier): 1-255
# letters, digits and hyphens, first a letter, no two consecutive hyphens, no hyphen at the
# end. ElastiCache documents no rule for FinalSnapshotIdentifier; the cache is held to the same.
SNAPSHOT_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")
# What the components append to `<name>-db-final` / `<name>-redis-final`: `-` and 8 hex digits.
SNAPSHOT_SUFFIX_EXAMPLE = "-0123abcd"


def tag_role(key: str) -> str:
    """A label or taint key as the kebab-case role of its tag's logical name."""
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def node_group_name_prefix(cluster_name: str, group: str) -> str:
    """What every EKS name of a node group starts with (infra/components/cluster.py passes it
    as node_group_name_prefix; the provider appends NODE_GROUP_UNIQUE_SUFFIX characters)."""
    return f"{cluster_name}-{group}-"


def final_snapshot_prefixes(c: StackConfig) -> dict[str, str]:
    """The final snapshot names' fixed part per store (infra/components/{database,cache}.py)."""
    return {"database": f"{c.name}-db-final", "cache": f"{c.name}-redis-final"}


# Availability Zones per region, for the regions the program prices (AWS "Regions and
# Availability Zones", docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html).
# Another region is checked at deploy time, by the network's AZ lookup, with the same line.
REGION_AZ_COUNT = {"us-east-1": 6, "eu-west-1": 3, "eu-south-2": 3}
# The NLB takes the cluster's name, `platform-<environment>`; ELB names are at most 32
# characters (CreateLoadBalancer, Name).
LOAD_BALANCER_NAME_MAX = 32


def instance_architecture(instance_type: str) -> str:
    """arm64 for Graviton: a `g` among the attributes after the generation digit (m7g, t4g,
    r6gd, c6gn, im4gn, g5g) or the a1 family; x86_64 otherwise (m5, m6i, m5dn, g5, gr6)."""
    family = instance_type.split(".")[0]
    match = re.fullmatch(r"[a-z]+\d+([a-z-]*)", family)
    return "arm64" if family == "a1" or (match is not None and "g" in match.group(1)) else "x86_64"


def _check_cross_section(c: StackConfig, stack: str | None = None) -> None:
    try:
        c.network.subnet_plan()
    except cidr.CidrError as exc:
        raise ConfigError(f"{PROJECT}:network.cidr", str(exc)) from None
    azs = REGION_AZ_COUNT.get(c.aws.region)
    if azs is not None and c.network.az_count > azs:
        raise ConfigError(f"{PROJECT}:network.az_count", f"{c.network.az_count} AZs requested but {c.aws.region} has {azs}")
    if len(c.name) > LOAD_BALANCER_NAME_MAX:
        raise ConfigError(
            f"{PROJECT}:environment",
            f"'{c.environment}' is too long: the load balancer is named {c.name} ({len(c.name)} characters) and AWS allows {LOAD_BALANCER_NAME_MAX}",
        )
    for i, group in enumerate(c.cluster.node_groups):
        arches = sorted({instance_architecture(t) for t in group.instance_types})
        if len(arches) > 1:
            raise ConfigError(
                f"{PROJECT}:cluster.node_groups[{i}].instance_types",
                f"mixes {' and '.join(arches)} instance types ({', '.join(group.instance_types)}); a managed node group runs one AMI, so one architecture",
            )
    for i, group in enumerate(c.cluster.node_groups):
        prefix = node_group_name_prefix(c.name, group.name)
        if len(prefix) + NODE_GROUP_UNIQUE_SUFFIX > NODE_GROUP_NAME_MAX:
            raise ConfigError(
                f"{PROJECT}:cluster.node_groups[{i}].name",
                f"'{group.name}' is too long: the node group is named {prefix} plus {NODE_GROUP_UNIQUE_SUFFIX} characters ({len(prefix) + NODE_GROUP_UNIQUE_SUFFIX}) and EKS allows {NODE_GROUP_NAME_MAX}",
            )
    if c.protection.final_snapshots:
        for store, prefix in final_snapshot_prefixes(c).items():
            if not SNAPSHOT_IDENTIFIER.match(prefix + SNAPSHOT_SUFFIX_EXAMPLE):
                raise ConfigError(
                    f"{PROJECT}:environment",
                    f"'{c.environment}' makes the {store} final snapshot name {prefix}-<8 hex>, which RDS refuses (letters, digits and single hyphens, first a letter)",
                )
    if c.protection.protect and not c.protection.allow_stateful_replacement:
        for key, value, replaces, default in _IDENTITY_KEYS:
            kept = default(stack or c.environment)
            if value(c) != kept:
                raise ConfigError(
                    f"{PROJECT}:{key}",
                    f"{value(c)!r} would replace {replaces} on a protected stack; keep {kept!r}, or set protection.allow_stateful_replacement in the reviewed change that replaces it",
                )
    floors = {"production": _PRODUCTION_FLOOR, "staging": _STAGING_FLOOR, "development": ()}[c.tier]
    for key, ok, requirement in floors:
        if not ok(c):
            raise ConfigError(f"{PROJECT}:{key}", requirement)
    for i, group in enumerate(c.cluster.node_groups):
        if group.scale_to_zero_off_hours and c.tier == "production":
            raise ConfigError(f"{PROJECT}:cluster.node_groups[{i}].scale_to_zero_off_hours", "must be false in a production tier")
    if sleeps(c) and c.working_hours is None:
        raise ConfigError(f"{PROJECT}:working_hours", "required when database.stop_off_hours or a node group's scale_to_zero_off_hours is set")
    if c.tier != "development" and not c.budget.alert_emails:
        raise ConfigError(f"{PROJECT}:budget.alert_emails", f"at least one address is required in a {c.tier} tier")
    if c.app.external_services == "mock" and c.tier == "production":
        raise ConfigError(f"{PROJECT}:app.external_services", "'mock' is not allowed in a production tier; use live")
    _check_access(c)
    # The observability pods must fit the nodes the stack always runs (infra/telemetry.py).
    from infra import telemetry

    problem = telemetry.capacity_problem(c)
    if problem:
        raise ConfigError(f"{PROJECT}:observability", problem)
    if c.dns.review_wildcard and c.tier != "development":
        raise ConfigError(f"{PROJECT}:dns.review_wildcard", f"only a development tier hosts review environments; a {c.tier} certificate covers its own names only")
    if c.owns_audit and len(audit_bucket_name(c.name, c.aws.region, c.account.id)) > BUCKET_NAME_MAX:
        bucket = audit_bucket_name(c.name, c.aws.region, c.account.id)
        raise ConfigError(
            f"{PROJECT}:environment",
            f"'{c.environment}' is too long for the audit trail's bucket {bucket} ({len(bucket)} characters; S3 allows {BUCKET_NAME_MAX})",
        )
    if c.runner is not None and c.tier == "production" and c.runner.log_retention_days < 365:
        raise ConfigError(f"{PROJECT}:runner.log_retention_days", "must be at least 365 in a production tier (every log is kept a year)")
    _check_data_copy(c)


# The tier each side of the copy may run in: un-anonymized data is read only in production,
# and a copy is restored only into staging (never into prod; dev runs seed fixtures).
DATA_COPY_TIERS = {"source": "production", "target": "staging"}


def data_restore_role_name(environment: str) -> str:
    """The restoring stack's IRSA role (DataCopyTarget): a fixed name, because the source's
    key and bucket policies name it from another account."""
    return f"{PROJECT}-{environment}-data-restore"


def data_copy_bucket_name(name: str, account_id: str, region: str) -> str:
    """The source's dump bucket (DataCopySource): S3 names are global, so account and region
    make it the account's own."""
    return f"{name}-data-copy-{account_id}-{region}"


def _check_data_copy(c: StackConfig) -> None:
    copy = c.data_copy
    if copy is None:
        return
    tier = DATA_COPY_TIERS[copy.role]
    if c.tier != tier:
        never = {"production": " (a copy is never restored into prod)", "development": " (dev runs seed fixtures: python -m infra.data.seed)"}.get(c.tier, "")
        raise ConfigError(f"{PROJECT}:data_copy.role", f"'{copy.role}' is allowed only in a {tier} tier, and this stack is {c.tier}{never}")
    if copy.role == "source" and c.database.read_replicas < 1:
        raise ConfigError(f"{PROJECT}:data_copy.role", "'source' reads the read replica, never the primary: set database.read_replicas to at least 1")
    if copy.role == "source" and copy.target_account_id == c.account.id:
        raise ConfigError(f"{PROJECT}:data_copy.target_account_id", f"{copy.target_account_id} is this stack's own account; allowed: the restoring stack's account (staging is kept apart from prod)")
    if copy.role == "target" and copy.source_account_id == c.account.id:
        raise ConfigError(f"{PROJECT}:data_copy.source_account_id", f"{copy.source_account_id} is this stack's own account; allowed: the production account the dumps come from")
    if copy.role == "source" and len(data_copy_bucket_name(c.name, c.account.id, c.aws.region)) > BUCKET_NAME_MAX:
        bucket = data_copy_bucket_name(c.name, c.account.id, c.aws.region)
        raise ConfigError(f"{PROJECT}:environment", f"'{c.environment}' is too long for the copy's bucket {bucket} ({len(bucket)} characters; S3 allows {BUCKET_NAME_MAX})")


# What each grant allows that counts as writing, per TeamAccess field (TeamAccess.writes).
_WRITE_GRANTS = {"cluster": ("edit", "admin", "cluster_admin"), "database": ("read_write",), "aws": ("power_user", "administrator")}


# S3 bucket names: 3 to 63 lowercase letters, digits, hyphens and dots (S3 user guide,
# "General purpose bucket naming rules").
BUCKET_NAME_MAX = 63


def audit_bucket_name(name: str, region: str, account_id: str) -> str:
    """The trail's bucket (infra/components/audit.py): S3 names are global, so the account and
    region make it the account's own."""
    return f"{name}-cloudtrail-{account_id}-{region}"


def _check_access(c: StackConfig) -> None:
    deployer = c.aws.deploy_role_arn
    if deployer is not None and deployer == c.access.ci_deploy_role_arn:
        raise ConfigError(
            f"{PROJECT}:access.ci_deploy_role_arn",
            f"{deployer} is the deploy role (aws:assumeRoles): EKS makes it cluster-admin as the cluster's creator, "
            "and a second access entry for the same principal fails (pulumi/pulumi-eks#2373); remove it here",
        )
    namespaces = c.app.namespaces
    for team, grant in c.access.teams.items():
        key = f"{PROJECT}:access.teams.{team}"
        if grant.cluster in ("view", "edit", "admin"):
            for i, ns in enumerate(grant.namespaces):
                if not ns.endswith("*") and ns not in namespaces:
                    raise ConfigError(f"{key}.namespaces[{i}]", f"'{ns}' is not a namespace of this stack ({', '.join(namespaces)}); name one, or a prefix ending in *")
        if c.tier != "production":
            continue
        if grant.cluster == "cluster_admin" and team not in PRODUCTION_CLUSTER_ADMINS:
            raise ConfigError(f"{key}.cluster", f"'cluster_admin' in a production tier is only for {' and '.join(PRODUCTION_CLUSTER_ADMINS)}")
        if team not in PRODUCTION_WRITERS:
            for field, writes in _WRITE_GRANTS.items():
                value = getattr(grant, field)
                if value in writes:
                    allowed = [v for v in TeamAccess.model_fields[field].annotation.__args__ if v not in writes]
                    raise ConfigError(
                        f"{key}.{field}",
                        f"'{value}' writes, and in a production tier only {', '.join(PRODUCTION_WRITERS)} may write; allowed for {team}: {', '.join(allowed)}",
                    )
    if c.tier == "production" and "break_glass" not in c.access.teams:
        raise ConfigError(f"{PROJECT}:access.teams.break_glass", "required in a production tier (the way in when single sign-on or the devops role fails)")


def stack_file_accounts(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every stack file's raw `platform:account` section, by stack name (Pulumi.<stack>.yaml)."""
    root = root or Path(__file__).resolve().parents[1]
    paths = sorted(root.glob("Pulumi.*.yaml"))
    return {stack: dict(section) for stack, section in _accounts_of(tuple((str(p), p.stat().st_mtime_ns) for p in paths)).items()}


@functools.lru_cache(maxsize=8)
def _accounts_of(files: tuple[tuple[str, int], ...]) -> dict[str, dict[str, Any]]:
    # Keyed by path and modification time: every config load reads the siblings, and a suite
    # loads config thousands of times.
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    accounts = {}
    for path, _ in files:
        stack = Path(path).name[len("Pulumi."):-len(".yaml")]
        data = yaml.load(Path(path).read_text(), Loader=loader) or {}
        accounts[stack] = dict((data.get("config") or {}).get(f"{PROJECT}:account") or {})
    return accounts


def audit_owner_problem(stack: str, account: AccountConfig, others: Mapping[str, Mapping[str, Any]]) -> str | None:
    """What is wrong with this stack's choice of the account's audit owner, given the other
    stacks' `platform:account` sections; None when exactly one stack of the account owns it."""
    owner = account.audit_owner or stack
    if owner != stack:
        theirs = others.get(owner)
        if theirs is None:
            return f"names stack '{owner}', but there is no Pulumi.{owner}.yaml"
        if str(theirs.get("id")) != account.id:
            return f"names stack '{owner}', which deploys into account {theirs.get('id')}, not {account.id}"
        if (theirs.get("audit_owner") or owner) != owner:
            return f"names stack '{owner}', which leaves the audit to '{theirs.get('audit_owner')}'; name the owner itself"
        return None
    rivals = sorted(name for name, theirs in others.items() if str(theirs.get("id")) == account.id and (theirs.get("audit_owner") or name) == name)
    if rivals:
        return (
            f"stacks {stack} and {rivals[0]} both own the audit trail of account {account.id} (a second trail bills every event again); "
            f"set audit_owner: {rivals[0]} here, or audit_owner: {stack} in Pulumi.{rivals[0]}.yaml"
        )
    return None


def service_linked_role_problem(stack: str, account: AccountConfig, others: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Two stacks of one account that both create AWSServiceRoleForAutoScaling: the second
    fails (CreateServiceLinkedRole: "has been taken in this account")."""
    if not account.create_autoscaling_service_linked_role:
        return None
    rivals = sorted(name for name, theirs in others.items() if str(theirs.get("id")) == account.id and theirs.get("create_autoscaling_service_linked_role", True) is not False)
    if rivals:
        return (
            f"stacks {stack} and {rivals[0]} both create AWSServiceRoleForAutoScaling in account {account.id}, and the second fails; "
            "set false in every stack of the account but the one deployed first"
        )
    return None


# ---------------------------------------------------------------------------- loading

_SECTIONS = ("network", "cluster", "database", "cache", "dns", "app", "budget", "protection", "account", "access", "audit", "data_copy", "observability", "working_hours", "cost", "runner")
_SCALARS = ("environment", "tier", "tags")
ALLOWED_KEYS = tuple(sorted((*_SECTIONS, *_SCALARS, *SECRET_KEYS)))


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required, not set"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"expected a whole number, got {error['input']!r}"
    if kind in {"float_type", "float_parsing"}:
        return f"expected a number, got {error['input']!r}"
    if kind in {"bool_type", "bool_parsing"}:
        return f"expected true or false, got {error['input']!r}"
    if kind in {"string_type"}:
        return f"expected a string, got {error['input']!r}"
    if kind in {"list_type", "dict_type", "model_type", "model_attributes_type"}:
        expected = "a list" if kind == "list_type" else "a mapping of keys to values"
        return f"expected {expected}, got {error['input']!r}"
    if kind == "literal_error":
        return f"got {error['input']!r}; allowed: {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} does not match {error['ctx']['pattern']}"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        bound = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        limit = next(iter(error["ctx"].values()))
        return f"must be {bound} {limit}, got {error['input']!r}"
    if kind in {"too_short", "too_long"}:
        ctx = error["ctx"]
        return f"must have {'at least ' + str(ctx['min_length']) if kind == 'too_short' else 'at most ' + str(ctx['max_length'])} item(s)"
    message = error["msg"]
    return message.removeprefix("Value error, ")


def _key(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return f"{PROJECT}:" + ".".join(parts)


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = StackConfig
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = model.model_fields.get(item)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        candidates = [annotation, *(inner or ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            # e.g. list[NodeGroupConfig]
            for arg in inner or ():
                for sub in getattr(arg, "__args__", ()) or (arg,):
                    if isinstance(sub, type) and issubclass(sub, BaseModel):
                        model = sub
            if model is None:
                return []
    return sorted(model.model_fields)


def parse(
    raw: Mapping[str, Any],
    *,
    stack: str,
    aws: Mapping[str, Any],
    secret_keys: frozenset[str] = frozenset(),
    other_accounts: Mapping[str, Mapping[str, Any]] | None = None,
) -> StackConfig:
    """Validate a stack's raw `platform:` config (keys without the namespace) into a StackConfig.

    `raw` holds plain values (objects already decoded from JSON); `secret_keys` are the keys
    the engine says were stored as secrets. Secret values themselves are not part of `raw`:
    `load()` reads them through `pulumi.Config.get_secret` so they stay wrapped.
    `other_accounts`: the other stacks' `platform:account` sections (default: the stack files
    beside this program), against which the account's audit owner is checked.
    """
    unknown = sorted(set(raw) - set(ALLOWED_KEYS))
    if unknown:
        raise ConfigError(f"{PROJECT}:{unknown[0]}", f"unknown key; allowed: {', '.join(ALLOWED_KEYS)}")
    for key in SECRET_KEYS:
        if key in raw and key not in secret_keys:
            raise ConfigError(f"{PROJECT}:{key}", f"stored in plain text; remove it and run `pulumi config set --secret {PROJECT}:{key} <value> --stack {stack}`")
    if isinstance(raw.get("cluster"), Mapping) and "admin_role_arns" in raw["cluster"]:
        raise ConfigError(f"{PROJECT}:cluster.admin_role_arns", "replaced by platform:access.teams (a team with cluster: cluster_admin); move the roles there")
    if not aws.get("region"):
        raise ConfigError("aws:region", f"required, not set; run `pulumi config set aws:region us-east-1 --stack {stack}`")
    data: dict[str, Any] = {k: v for k, v in raw.items() if k not in SECRET_KEYS}
    data.setdefault("environment", stack)
    data["aws"] = {"region": aws.get("region"), "assume_roles": aws.get("assumeRoles") or [], "profile": aws.get("profile")}
    try:
        config = StackConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        if loc and loc[0] == "aws":
            key = "aws:" + {"assume_roles": "assumeRoles"}.get(str(loc[1]), str(loc[1])) if len(loc) > 1 else "aws"
        else:
            key = _key(loc)
        problem = _describe(first)
        if first["type"] == "extra_forbidden":
            allowed = _allowed_fields(loc)
            if allowed:
                problem += f"; allowed: {', '.join(allowed)}"
        raise ConfigError(key, problem) from None
    _check_cross_section(config, stack)
    others = stack_file_accounts() if other_accounts is None else other_accounts
    others = {name: a for name, a in others.items() if name != stack}
    for key, check in (("audit_owner", audit_owner_problem), ("create_autoscaling_service_linked_role", service_linked_role_problem)):
        problem = check(stack, config.account, others)
        if problem:
            raise ConfigError(f"{PROJECT}:account.{key}", problem)
    if "audit" in raw and not config.owns_audit:
        raise ConfigError(f"{PROJECT}:audit", f"this stack leaves the account's audit to stack '{config.account.audit_owner}' (account.audit_owner); set it in Pulumi.{config.account.audit_owner}.yaml")
    return config


def required_secrets(config: StackConfig) -> tuple[str, ...]:
    """The secret keys this stack needs at deploy time."""
    needed = ["cloudflare_api_token"]
    if config.app.external_services != "mock":
        needed += ["stripe_secret_key", "sendgrid_api_key"]
    # Each alert route's credential: without it the route would point at nothing.
    alerts = config.observability.alerts
    if alerts.slack is not None:
        needed.append("slack_webhook_url")
    if alerts.pagerduty is not None:
        needed.append("pagerduty_routing_key")
    return tuple(needed)


# Secrets a stack may leave out: the feature they feed is off without them.
OPTIONAL_SECRETS = ("sentry_dsn",)


def _all_config_keys() -> set[str]:
    # Keys set by the engine (set_all_config) and by the PULUMI_CONFIG environment variable.
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def load() -> StackConfig:
    """Read and validate the running stack's config. Call before creating any resource."""
    from pulumi.runtime import config as runtime_config

    stack = pulumi.get_stack()
    platform = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    prefix = f"{PROJECT}:"
    for full_key in sorted(_all_config_keys()):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if key in SECRET_KEYS:
            raw[key] = "<secret>"  # presence only; the value is read wrapped below
            continue
        value = runtime_config.get_config(full_key)
        try:
            raw[key] = json.loads(value) if isinstance(value, str) and value[:1] in "{[" else _scalar(value)
        except json.JSONDecodeError:
            raise ConfigError(full_key, "is not valid YAML/JSON structured config") from None
    secret_keys = frozenset(k[len(prefix):] for k in _secret_config_keys() if k.startswith(prefix))
    aws_config = pulumi.Config("aws")
    try:
        assume_roles = aws_config.get_object("assumeRoles")
    except pulumi.ConfigTypeError:
        raise ConfigError("aws:assumeRoles", "expected a list of {roleArn, sessionName, externalId} objects") from None
    aws = {"region": aws_config.get("region"), "assumeRoles": assume_roles, "profile": aws_config.get("profile")}
    config = parse(raw, stack=stack, aws=aws, secret_keys=secret_keys)
    secrets = {}
    for key in required_secrets(config):
        value = platform.get_secret(key)
        if value is None:
            raise ConfigError(f"{PROJECT}:{key}", f"required secret is not set; run `pulumi config set --secret {PROJECT}:{key} <value> --stack {stack}`")
        secrets[key] = value
    for key in OPTIONAL_SECRETS:
        value = platform.get_secret(key)
        if value is not None:
            secrets[key] = value
    _refuse_a_deploy_while_asleep(config, now())
    return config.model_copy(update={"secrets": secrets})


def now() -> datetime.datetime:
    """The wall clock, for the asleep check (tests replace it)."""
    return datetime.datetime.now(datetime.timezone.utc)


def sleeps(config: StackConfig) -> bool:
    """Whether anything in the stack stops outside `working_hours` (its database or a node group)."""
    return config.database.stop_off_hours or any(g.scale_to_zero_off_hours for g in config.cluster.node_groups)


def _refuse_a_deploy_while_asleep(config: StackConfig, moment: datetime.datetime) -> None:
    """`pulumi up` of a sleeping environment outside its working hours stops here, in one line.

    Its node groups are at zero and its database is stopped: the Helm releases would wait for
    pods that cannot schedule and time out (300 s each), RDS refuses to modify a stopped
    instance, and the stack is left half-updated. Previews (and the offline plan, a preview)
    change nothing and always run.
    """
    if pulumi.runtime.is_dry_run() or not sleeps(config) or config.working_hours is None:
        return
    hours = config.working_hours
    if not hours.awake_at(moment):
        raise ConfigError(
            f"{PROJECT}:working_hours",
            f"the environment is asleep now (awake {hours.describe()}): its nodes are at zero and its database is stopped, "
            "so a deploy would time out; run `pulumi up` in working hours, when the off-hours schedule has woken it",
        )


def _secret_config_keys() -> set[str]:
    from pulumi.runtime import config as runtime_config

    return set(runtime_config._SECRET_KEYS.get()) | set(runtime_config.get_config_secret_keys_env())


def _scalar(value: Any) -> Any:
    """Plain config values reach the program as strings; YAML scalars keep their type in the file."""
    if not isinstance(value, str):
        return value
    if value in {"true", "false"}:
        return value == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value
