#!/usr/bin/env bash
# Destroy one review environment (docs/review-environments.md): its database first, then the rest.
#
#   review/destroy.sh PULL_REQUEST_NUMBER
#
# Run on dev's runner (dev's EKS endpoint is private), logged in to the state backend, with
# dev's deploy role. The teardown update (`platform-review:teardown true`) replaces the create
# Job by the drop Job and deletes everything else; Pulumi waits for the Job to complete, so a
# failed DROP fails here and the stack stays for a retry. Then `pulumi destroy` removes the
# Job and its Secret, and `pulumi stack rm` the stack. No stack: nothing to do.
set -euo pipefail
pr="${1:-}"
if [[ ! "$pr" =~ ^[1-9][0-9]{0,8}$ ]]; then
  echo "::error title=review destroy::not a pull request number: '$pr' (usage: review/destroy.sh NUMBER)"
  exit 2
fi
stack="pr-$pr"
cd "$(dirname "$0")"
if ! pulumi stack select "$stack" --non-interactive > /dev/null 2>&1; then
  echo "::notice title=review environment $stack::no such stack: nothing to destroy"
  exit 0
fi
# A fresh checkout has no review/Pulumi.pr-<n>.yaml: take the config (the Cloudflare token's
# ciphertext, the secrets provider) back from the stack's last update.
pulumi config refresh --stack "$stack" --force
pulumi config set --stack "$stack" platform-review:teardown true
pulumi up --stack "$stack" --yes --non-interactive --suppress-outputs
pulumi destroy --stack "$stack" --yes --non-interactive --suppress-outputs
pulumi stack rm "$stack" --yes --non-interactive
echo "::notice title=review environment $stack::destroyed (database dropped, namespace, records and stack removed)"
