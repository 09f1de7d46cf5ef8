"""One environment of the platform, from the stack's config: load, build, export."""

import pulumi

from infra import config as stack_config
from infra.components.access import Access, AccessArgs
from infra.components.addons import Addons, AddonsArgs
from infra.components.alerting import Alerting, AlertingArgs
from infra.components.app import App, AppArgs
from infra.components import audit as audit_names
from infra.components.audit import Audit, AuditArgs
from infra.components.budget import Budget, BudgetArgs
from infra.components.cache import Cache, CacheArgs
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.database import Database, DatabaseArgs
from infra.components.data_copy import DataCopySource, DataCopySourceArgs, DataCopyTarget, DataCopyTargetArgs
from infra.components.db_roles import DbRoles, DbRolesArgs
from infra.components import edge as edge_names
from infra.components.edge import Edge, EdgeArgs
from infra.components.grafana import Grafana, GrafanaArgs
from infra.components.logs import Logs, LogsArgs
from infra.components.monitoring import Monitoring, MonitoringArgs
from infra.components.traces import Traces, TracesArgs
from infra.components.keys import Keys, KeysArgs
from infra.components.network import Network, NetworkArgs
from infra.components.offhours import NodeGroupScaling, OffHours, OffHoursArgs
from infra.components.providers import aws_provider, check_dns_zone, cloudflare_provider
from infra.components.runner import Runner, RunnerArgs
from infra.components.scaling import ScaledGroup, Scaling, ScalingArgs
from infra.components.uptime import Uptime, UptimeArgs
from infra import alarms
from infra import telemetry
from infra.cost.model import estimate
from infra.versions import KUBERNETES_VERSION

cfg = stack_config.load()
aws = pulumi.ResourceOptions(providers={"aws": aws_provider(cfg)})
cloudflare = cloudflare_provider(cfg)
# Before anything is created: a wrong zone id would fail at the first DNS record, an hour in.
check_dns_zone(cfg, cloudflare)

keys = Keys(
    cfg.name,
    KeysArgs(
        region=cfg.aws.region,
        protection=cfg.protection,
        create_autoscaling_service_linked_role=cfg.account.create_autoscaling_service_linked_role,
        # The audit owner's key encrypts the account's trail (infra/components/audit.py).
        cloudtrail_trail_arn=audit_names.trail_arn(cfg.name, cfg.aws.region, cfg.account.id) if cfg.owns_audit else None,
    ),
    opts=aws,
)
network = Network(cfg.name, NetworkArgs(config=cfg.network, kms_key_arn=keys.key_arn), opts=aws)

cluster = Cluster(
    cfg.name,
    ClusterArgs(
        config=cfg.cluster,
        cluster_name=cfg.name,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        node_security_group_id=network.node_security_group_id,
        kms_key_arn=keys.key_arn,
        tags=cfg.base_tags(),
        # Nodes launch once their volumes can be encrypted and their subnets reach out; a
        # destroy then takes them down before the NAT routes the controller still needs.
        node_launch_dependencies=[*keys.node_launch_dependencies, *network.private_egress],
        deploy_role_arn=cfg.aws.deploy_role_arn,
        aws_profile=cfg.aws.profile,
        # Every stack's nodes log their sessions into the account's group, the audit owner's.
        session_log_group_arn=audit_names.session_log_group_arn(cfg),
        session_key_alias=None if cfg.owns_audit else audit_names.session_key_alias(cfg),
    ),
    opts=aws,
)
# Kubernetes objects through the cluster's provider, DNS through Cloudflare's.
on_cluster = pulumi.ResourceOptions.merge(aws, pulumi.ResourceOptions(providers=[cluster.k8s_provider, cloudflare]))

# Under every workload: the pinned EKS add-ons (CoreDNS once nodes exist), storage, priorities.
addons = Addons(
    cfg.name,
    AddonsArgs(
        cluster_name=cluster.cluster_name,
        kubernetes_version=KUBERNETES_VERSION,
        kms_key_arn=keys.key_arn,
        nodes=cluster.node_groups,
        # Released volumes keep their data wherever the stack keeps data on delete.
        reclaim_retain=cfg.protection.retain_on_delete,
        # vpc-cni and kube-proxy were pulumi_eks's children before: adopted in place.
        legacy_parent_urn=cluster.eks_urn,
        legacy_parent_name=cluster.eks_name,
    ),
    opts=on_cluster,
)
scaling = Scaling(
    cfg.name,
    ScalingArgs(
        config=cfg.cluster.autoscaler,
        cluster_name=cluster.cluster_name,
        region=cfg.aws.region,
        groups=[ScaledGroup(g, cluster.autoscaling_group_names[g.name]) for g in cfg.cluster.node_groups],
        zone_spread=cfg.cluster.zone_spread,
        workload_dependencies=addons.workload_dependencies,
        pod_identity_agent=addons.pod_identity_agent,
    ),
    opts=on_cluster,
)

# CI runner inside the VPC (docs/ci.md): the deploy path to a private API endpoint.
if cfg.runner is not None and cfg.runner.enabled_for(cfg.cluster):
    runner = Runner(
        cfg.name,
        RunnerArgs(
            config=cfg.runner,
            region=cfg.aws.region,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            cluster_security_group_id=cluster.cluster_security_group_id,
            kms_key_arn=keys.key_arn,
        ),
        opts=aws,
    )
    pulumi.export("runner_project_name", runner.project_name)
    pulumi.export("runner_label", runner.label)


# Data stores: isolated subnets, reachable only from the nodes' security group (never from EKS itself).
data_store = dict(
    protection=cfg.protection,
    vpc_id=network.vpc_id,
    subnet_ids=network.isolated_subnet_ids,
    client_security_group_id=network.node_security_group_id,
    kms_key_arn=keys.key_arn,
)
database = Database(cfg.name, DatabaseArgs(config=cfg.database, **data_store), opts=aws)
cache = Cache(cfg.name, CacheArgs(config=cfg.cache, **data_store), opts=aws)
# The app's own roles, created from inside the cluster (the database answers only the nodes).
db_roles = DbRoles(
    cfg.name,
    DbRolesArgs(
        database_host=database.endpoint,
        database_port=database.port,
        database_name=cfg.database.database_name,
        master_user=cfg.database.admin_username,
        master_password=database.master_password,
        resource_id=database.resource_ids.apply(lambda ids: ids[0]),
        password_generation=cfg.database.app_password_generation,
        nodes=addons.workload_dependencies,
    ),
    opts=on_cluster,
)

# The anonymized copy (docs/data.md): prod dumps its replica, masked; staging restores it.
copy = cfg.data_copy
if copy is not None and copy.role == "source":
    data_source = DataCopySource(
        cfg.name,
        DataCopySourceArgs(
            config=copy,
            region=cfg.aws.region,
            account_id=cfg.account.id,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_provider_url=cluster.oidc_provider_url,
            # Config guarantees a replica for the source: it never reads the primary.
            replica_host=database.reader_endpoint,
            replica_port=database.port,
            replica_resource_id=database.resource_ids.apply(lambda ids: ids[1]),
            database_name=cfg.database.database_name,
            protection=cfg.protection,
            workload_dependencies=[*addons.workload_dependencies, db_roles],
        ),
        opts=on_cluster,
    )
    pulumi.export("data_copy_bucket", data_source.bucket_name)
    pulumi.export("data_image_repository", data_source.repository_url)
elif copy is not None:
    data_target = DataCopyTarget(
        cfg.name,
        DataCopyTargetArgs(
            config=copy,
            environment=cfg.environment,
            region=cfg.aws.region,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_provider_url=cluster.oidc_provider_url,
            database_name=cfg.database.database_name,
            credentials_secret=db_roles.credentials_secret,
            workload_dependencies=[*addons.workload_dependencies, db_roles],
        ),
        opts=on_cluster,
    )
    pulumi.export("data_restore_role_arn", data_target.role_arn)

# People: a role per team, its access entry on the cluster, its IAM login to the database.
access = Access(
    cfg.name,
    AccessArgs(
        config=cfg.access,
        account_id=cfg.account.id,
        region=cfg.aws.region,
        cluster_name=cluster.api_cluster_name,
        db_resource_ids=database.resource_ids,
    ),
    opts=aws,
)

# Off-hours: only when something sleeps (config guarantees working_hours is then set).
sleeping_groups = [g for g in cfg.cluster.node_groups if g.scale_to_zero_off_hours]
if cfg.working_hours is not None and stack_config.sleeps(cfg):
    OffHours(
        cfg.name,
        OffHoursArgs(
            working_hours=cfg.working_hours,
            db_instance_identifier=database.instance_identifier if cfg.database.stop_off_hours else None,
            # The groups' EKS names as the cluster reads them back: new with every replacement.
            node_groups=[
                NodeGroupScaling(
                    cluster.cluster_name,
                    cluster.node_group_names[g.name],
                    g.min_size,
                    g.desired_size,
                    g.max_size,
                    key=g.name,
                    # The autoscaler lets go of the group before it sleeps.
                    autoscaling_group_name=cluster.autoscaling_group_names[g.name],
                )
                for g in sleeping_groups
            ],
        ),
        opts=aws,
    )

budget = Budget(cfg.name, BudgetArgs(config=cfg.budget, environment=cfg.environment, tags=cfg.base_tags()), opts=aws)
# The account's trail and session logging: once per account, by the stack that owns them.
if cfg.owns_audit:
    audit = Audit(
        cfg.name,
        AuditArgs(
            config=cfg.audit,
            account_id=cfg.account.id,
            region=cfg.aws.region,
            kms_key_arn=keys.key_arn,
            session_log_group_name=audit_names.session_log_group_name(cfg),
            protection=cfg.protection,
        ),
        opts=aws,
    )
    pulumi.export("audit_trail_arn", audit.trail_arn)
    pulumi.export("audit_bucket", audit.bucket_name)

edge = Edge(
    cfg.name,
    EdgeArgs(
        dns=cfg.dns,
        cluster_name=cluster.cluster_name,
        region=cfg.aws.region,
        vpc_id=network.vpc_id,
        vpc_cidr=network.vpc_cidr,
        public_subnet_ids=network.public_subnet_ids,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_provider_url=cluster.oidc_provider_url,
        tags=cfg.base_tags(),
        zone_spread=cfg.cluster.zone_spread,
        # Nodes, CoreDNS and the platform's PriorityClass before any pod must be ready.
        nodes=addons.workload_dependencies,
    ),
    opts=on_cluster,
)
app = App(
    cfg.name,
    AppArgs(
        config=cfg.app,
        dns=cfg.dns,
        protection=cfg.protection,
        kms_key_arn=keys.key_arn,
        database_host=database.endpoint,
        database_port=database.port,
        database_name=cfg.database.database_name,
        database_user=db_roles.app_user,
        database_password=db_roles.app_password,
        migrator_user=db_roles.migrator_user,
        migrator_password=db_roles.migrator_password,
        redis_url=cache.url,
        stripe_secret_key=cfg.secrets.get("stripe_secret_key"),
        sendgrid_api_key=cfg.secrets.get("sendgrid_api_key"),
        otlp_endpoint=telemetry.OTLP_HTTP_ENDPOINT if cfg.observability.traces.enabled else None,
        sentry_environment=cfg.observability.sentry_environment,
        sentry_dsn=cfg.secrets.get("sentry_dsn"),
    ),
    opts=on_cluster,
)

# Observability: metrics, logs, traces and Grafana, as the stack's observability section asks.
obs = cfg.observability
if obs.grafana:
    telemetry_store = dict(
        region=cfg.aws.region,
        account_id=cfg.account.id,
        kms_key_arn=keys.key_arn,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_provider_url=cluster.oidc_provider_url,
        storage_class=addons.storage_class_name,
        protection=cfg.protection,
    )
    monitoring = Monitoring(
        cfg.name,
        MonitoringArgs(
            config=obs,
            environment=cfg.environment,
            slack_webhook_url=cfg.secrets.get("slack_webhook_url"),
            pagerduty_routing_key=cfg.secrets.get("pagerduty_routing_key"),
            ingress_namespace=edge_names.TRAEFIK_NAMESPACE,
            ingress_selector=edge_names.TRAEFIK_SELECTOR,
            workload_dependencies=addons.workload_dependencies,
            data_copy=cfg.data_copy,
            **telemetry_store,
        ),
        opts=on_cluster,
    )
    if obs.logs.enabled:
        Logs(cfg.name, LogsArgs(config=obs.logs, workload_dependencies=monitoring.dependencies, **telemetry_store), opts=on_cluster)
    if obs.traces.enabled:
        Traces(cfg.name, TracesArgs(config=obs.traces, workload_dependencies=monitoring.dependencies, **telemetry_store), opts=on_cluster)
    grafana = Grafana(
        cfg.name,
        GrafanaArgs(
            config=obs,
            environment=cfg.environment,
            region=cfg.aws.region,
            cluster_name=cluster.cluster_name,
            prometheus_url=monitoring.prometheus_url,
            db_instance_identifier=database.instance_identifier,
            cache_cluster_ids=cache.member_cluster_ids,
            pod_identity_agent=addons.pod_identity_agent,
            workload_dependencies=monitoring.dependencies,
        ),
        opts=on_cluster,
    )
    pulumi.export("grafana_url", grafana.url)

# Alerting on AWS: CloudWatch alarms through SNS to the routes, and the uptime check.
if cfg.observability.alerts.enabled:
    alerting = Alerting(
        cfg.name,
        AlertingArgs(
            config=cfg.observability.alerts,
            database=cfg.database,
            cache=cfg.cache,
            environment=cfg.environment,
            region=cfg.aws.region,
            account_id=cfg.account.id,
            kms_key_arn=keys.key_arn,
            db_instance_identifier=database.instance_identifier,
            db_replica_identifiers=database.replica_identifiers,
            cache_replication_group_id=cache.replication_group_id,
            load_balancer_name=edge.load_balancer_name,
            certificate_arn=edge.certificate_arn,
            slack_webhook_url=cfg.secrets.get("slack_webhook_url"),
            pagerduty_routing_key=cfg.secrets.get("pagerduty_routing_key"),
            protection=cfg.protection,
        ),
        opts=aws,
    )
    # Config guarantees uptime only with alerts. Route 53's metrics are in us-east-1 only.
    if cfg.observability.uptime.enabled:
        Uptime(
            cfg.name,
            UptimeArgs(
                config=cfg.observability.uptime,
                host=alarms.uptime_host(cfg),
                region=cfg.aws.region,
                account_id=cfg.account.id,
                topic_arn=alerting.topic_arn,
                forwarder_arn=alerting.forwarder_arn,
                us_east_1=None if cfg.aws.region == "us-east-1" else aws_provider(cfg, region="us-east-1"),
                protection=cfg.protection,
            ),
            opts=aws,
        )

pulumi.export("environment", cfg.environment)
# The same sizing objects that created the resources price them: cost reviews read this.
pulumi.export("cost", estimate(cfg))
pulumi.export("budget_name", budget.budget_name)
pulumi.export("vpc_id", network.vpc_id)
pulumi.export("public_subnet_ids", network.public_subnet_ids)
pulumi.export("private_subnet_ids", network.private_subnet_ids)
pulumi.export("isolated_subnet_ids", network.isolated_subnet_ids)
pulumi.export("kms_key_arn", keys.key_arn)
pulumi.export("cluster_name", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("oidc_provider_arn", cluster.oidc_provider_arn)
pulumi.export("database_endpoint", database.endpoint)
if database.reader_endpoint is not None:
    pulumi.export("database_reader_endpoint", database.reader_endpoint)
pulumi.export("database_secret_arn", database.master_secret_arn)
pulumi.export("redis_endpoint", cache.primary_endpoint)
pulumi.export("redis_secret_arn", cache.auth_secret_arn)
# What a web/mobile build and the app's deployment read (docs/edge-and-app.md); no secret values.
pulumi.export("api_url", edge.api_url)
pulumi.export("web_url", edge.web_url)
pulumi.export("load_balancer_hostname", edge.load_balancer_hostname)
pulumi.export("app_secret_arn", app.secret_arn)
pulumi.export("namespaces", app.namespaces)
# What each team assumes (aws sts assume-role / IAM Identity Center's role switch).
pulumi.export("team_role_arns", access.role_arns)
