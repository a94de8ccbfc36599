"""The public SSM parameters AWS publishes for the EKS optimized AMIs, which
moto 5.2.5 does not have (it serves the `ami-amazon-linux-latest`, `ecs` and
`global-infrastructure` trees only).

`/aws/service/eks/optimized-ami/<version>/<family>/recommended/release_version`
holds the newest AMI release of a Kubernetes version for an Amazon Linux AMI
family (EKS user guide, "Retrieve recommended Amazon Linux AMI IDs"; the
terraform-aws-modules/eks module reads the same names per AMI type). Their
values follow `eks.releases`, so a release the harness publishes
(`/moto-api/stackplan/eks/publish-ami-release`) is what the parameter says
next, as AWS updates the parameter when it publishes an AMI. A version EKS
does not support has no parameter: GetParameter answers ParameterNotFound, as
AWS does for a name it does not have.
"""

from __future__ import annotations

from moto.core.utils import utcnow
from moto.ssm.models import Parameter, ParameterDict

from . import eks

PREFIX = "/aws/service/eks/optimized-ami/"

# The Amazon Linux families AWS publishes a `release_version` for (EKS user
# guide, "Retrieve recommended Amazon Linux AMI IDs").
FAMILIES = (
    "amazon-linux-2",
    "amazon-linux-2-gpu",
    "amazon-linux-2-arm64",
    "amazon-linux-2023/x86_64/standard",
    "amazon-linux-2023/arm64/standard",
    "amazon-linux-2023/x86_64/nvidia",
    "amazon-linux-2023/x86_64/neuron",
)


def _refresh_eks_parameters(params: ParameterDict) -> None:
    """Brings every EKS release parameter to its version's newest release,
    as a new parameter version when the release changed (AWS keeps the
    history of a public parameter's values as versions)."""
    for minor in eks.SUPPORTED_MINORS:
        version = f"1.{minor}"
        latest = eks.latest_release(version)
        for family in FAMILIES:
            name = f"{PREFIX}{version}/{family}/recommended/release_version"
            history = dict.get(params, name) or []
            if history and history[-1].value == latest:
                continue
            dict.__setitem__(
                params,
                name,
                history
                + [
                    Parameter(
                        account_id=params.account_id,
                        name=name,
                        value=latest,
                        parameter_type="String",
                        description=None,
                        allowed_pattern=None,
                        keyid=None,
                        last_modified_date=utcnow(),
                        version=len(history) + 1,
                        data_type="text",
                    )
                ],
            )


def install() -> None:
    original = ParameterDict._check_loading_status

    def check_loading_status(self: ParameterDict, key: str) -> None:
        original(self, key)
        if str(key or "").startswith(PREFIX):
            _refresh_eks_parameters(self)

    ParameterDict._check_loading_status = check_loading_status
