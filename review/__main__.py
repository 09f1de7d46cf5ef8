"""The review program: one pull request's environment inside the dev cluster (stack `pr-<n>`).

Reads dev's outputs through a StackReference (`platform-review:dev_stack`, the fully
qualified name; `organization/platform/dev` on the S3 backend) and the committed stack file
of that stack (`Pulumi.<stack>.yaml` at the repository's root: its tier, region, account,
DNS zone, app settings and node type, at the commit under review). Refuses, before any
resource, a stack that is not of the development tier. docs/review-environments.md.
"""

import json
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s
import yaml
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pulumi up` runs this from review/: the infra package is one up
    sys.path.insert(0, str(ROOT))

from infra import prices, review_env, runtime_config  # noqa: E402
from infra.components.providers import aws_provider  # noqa: E402
from infra.components.review_env import ReviewEnvironment, ReviewEnvironmentArgs  # noqa: E402
from infra.config import ConfigError, DnsConfig, parse  # noqa: E402
from infra.cost.review import marginal  # noqa: E402


def _raw_config() -> dict[str, str]:
    from pulumi.runtime import config as runtime_config_

    prefix = f"{review_env.NAMESPACE}:"
    keys = set(runtime_config_.CONFIG.get()) | set(runtime_config_.get_config_env())
    return {k[len(prefix):]: runtime_config_.get_config(k) for k in sorted(keys) if k.startswith(prefix)}


def _dev_config(cfg: review_env.ReviewConfig):
    """The referenced stack's committed stack file, validated as the main program validates it."""
    path = ROOT / f"Pulumi.{cfg.dev_stack_name}.yaml"
    if not path.exists():
        raise ConfigError(f"{review_env.NAMESPACE}:dev_stack", f"{cfg.dev_stack}: no stack file {path.name} in the repository to read its tier, zone and app settings from")
    with open(path, encoding="utf-8") as fh:
        config = (yaml.safe_load(fh) or {}).get("config") or {}
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("platform:") and not (isinstance(v, dict) and set(v) == {"secure"})}
    aws_cfg = {"region": config.get("aws:region"), "assumeRoles": config.get("aws:assumeRoles"), "profile": config.get("aws:profile")}
    return parse(raw, stack=cfg.dev_stack_name, aws=aws_cfg)


try:
    cfg = review_env.parse_config(_raw_config())
    pr = review_env.parse_pr(pulumi.get_stack())
except review_env.ReviewConfigError as exc:
    # One line, no traceback: the engine prints a RunError as its message.
    raise ConfigError(exc.key, exc.problem) from None

dev_cfg = _dev_config(cfg)
try:
    # The committed stack file's tier first: a staging or prod name stops before anything,
    # the reference itself included.
    review_env.check_development_tier(cfg.dev_stack, dev_cfg.tier, dev_cfg.environment, None)
    dev = pulumi.StackReference(cfg.dev_stack)
    # Then what the stack exports, read synchronously (as the SDK's own synchronous invokes
    # are) so that a reference to another stack also stops before any resource.
    exported = _sync_await(dev.get_output_details("environment")).value
    review_env.check_development_tier(cfg.dev_stack, dev_cfg.tier, dev_cfg.environment, exported)
except review_env.ReviewConfigError as exc:
    raise ConfigError(exc.key, exc.problem) from None

token = pulumi.Config(review_env.NAMESPACE).get_secret("cloudflare_api_token")
if token is None:
    raise ConfigError(
        f"{review_env.NAMESPACE}:cloudflare_api_token",
        f"required secret is not set; copy dev's: `pulumi config get platform:cloudflare_api_token --stack {cfg.dev_stack_name} | (cd review && pulumi config set --secret {review_env.NAMESPACE}:cloudflare_api_token --stack {pulumi.get_stack()})`",
    )

# dev's AWS provider (region, account guard, assumed role): the program only reads dev's secrets.
aws_dev = aws_provider(dev_cfg)
cloudflare_dev = cloudflare.Provider("cloudflare", api_token=token)
kubeconfig = dev.require_output("kubeconfig").apply(lambda k: k if isinstance(k, str) else json.dumps(k))
k8s_dev = k8s.Provider("dev-k8s", kubeconfig=pulumi.Output.secret(kubeconfig), enable_server_side_apply=True)


def _secret_json(arn_output: str) -> pulumi.Output[dict]:
    """One of dev's Secrets Manager secrets (JSON), as a secret Output.

    Read synchronously, by the ARN dev exports: an output-form invoke whose provider is still
    being registered comes back unknown in a preview, and every secret built from it with it.
    """
    arn = _sync_await(dev.get_output_details(arn_output)).value
    if not arn:
        raise ConfigError(f"{review_env.NAMESPACE}:dev_stack", f"{cfg.dev_stack} exports no {arn_output}: deploy dev first (review environments live in its cluster)")
    version = aws.secretsmanager.get_secret_version(secret_id=arn, opts=pulumi.InvokeOptions(provider=aws_dev))
    return pulumi.Output.secret(json.loads(version.secret_string))


master = _secret_json("database_secret_arn")
redis = _secret_json("redis_secret_arn")

dns = dev_cfg.dns
names = review_env.names(pr, runtime_config.api_hosts(dns)[0], runtime_config.web_hosts(dns)[0], dns.domain)


def _record(host: str) -> str:
    return "@" if host == dns.domain else host.removesuffix(f".{dns.domain}")


review_dns = DnsConfig(domain=dns.domain, zone_id=dns.zone_id, api_records=[_record(names.api_host)], web_records=[_record(names.web_host)])
env = ReviewEnvironment(
    names.namespace,
    ReviewEnvironmentArgs(
        names=names,
        zone_id=dns.zone_id,
        load_balancer_hostname=dev.require_output("load_balancer_hostname"),
        database_host=master.apply(lambda m: m["host"]),
        database_port=master.apply(lambda m: int(m["port"])),
        master_user=master.apply(lambda m: m["username"]),
        master_password=pulumi.Output.secret(master.apply(lambda m: m["password"])),
        redis_url=pulumi.Output.secret(redis.apply(lambda r: r["url"])),
        app_config=runtime_config.app_config(review_dns, dev_cfg.app),
        cpu_millicores=cfg.cpu_millicores,
        memory_mib=cfg.memory_mib,
        teardown=cfg.teardown,
    ),
    opts=pulumi.ResourceOptions(providers=[k8s_dev, cloudflare_dev]),
)

group = dev_cfg.cluster.node_groups[0]
pulumi.export("pr", pr)
pulumi.export("dev_stack", cfg.dev_stack)
pulumi.export("teardown", cfg.teardown)
pulumi.export("namespace", env.namespace)
pulumi.export("database", env.database)
pulumi.export("database_role", env.role)
pulumi.export("api_url", env.api_url)
pulumi.export("web_url", env.web_url)
pulumi.export("job_name", env.job_name)
# What this environment adds to dev's bill (the pull request's comment prints it).
pulumi.export("cost", marginal(
    prices.for_region(dev_cfg.aws.region),
    instance_type=group.instance_types[0],
    capacity_type=group.capacity_type,
    cpu_millicores=cfg.cpu_millicores,
    memory_mib=cfg.memory_mib,
    database_storage_gb=cfg.database_storage_gb,
    dns_records=0 if cfg.teardown else 2,
))
