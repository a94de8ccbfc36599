"""EKS operations moto lacks, and fixes to the ones it has.

Shapes follow the Amazon EKS API reference (restJson1): request fields are
read from the JSON body, URI labels and query string exactly as the SDKs send
them, and results go through moto's own model-driven serializer
(`ActionResult`), so field names and timestamp encoding match botocore's
service model for EKS.

Added operations: CreateAddon, DescribeAddon, UpdateAddon, DeleteAddon,
ListAddons, DescribeAddonVersions, UpdateClusterVersion,
UpdateNodegroupVersion, DescribeUpdate, ListUpdates, CreateAccessEntry,
DescribeAccessEntry, UpdateAccessEntry, DeleteAccessEntry, ListAccessEntries,
AssociateAccessPolicy, DisassociateAccessPolicy, ListAssociatedAccessPolicies,
ListAccessPolicies.
Changed: CreateCluster (per-cluster OIDC issuer, cluster security group, VPC
id, subnet validation, the creator's admin access entry), CreateNodegroup
(version defaults to the cluster's, refused newer than the cluster's;
releaseVersion defaults to the version's latest AMI release and must be one
of the version's; scaling validation), ListNodegroups
(an unknown cluster is ResourceNotFoundException), CreateCluster,
CreateNodegroup and CreateAddon (a repeat with the same clientRequestToken
and parameters answers what the first made), UpdateClusterVersion (one minor
at a time; refused while a node group's version differs from the cluster's),
UpdateNodegroupVersion (not beyond the cluster's version, never back; an AMI
release of the target version), UpdateClusterConfig
(returns an `update` as AWS does, and merges a partial resourcesVpcConfig),
UpdateNodegroupConfig (update recorded for DescribeUpdate), DeleteCluster
(deletes add-ons, access entries and the cluster security group),
TagResource / UntagResource / ListTagsForResource (access entries and
add-ons too; every `tagKeys` is removed).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models import ec2_backends
from moto.eks import models as eks_models
from moto.eks import urls as eks_urls
from moto.eks.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.models import EKSBackend
from moto.eks.responses import EKSResponse
from moto.eks.utils import validate_role_arn
from moto.iam.models import iam_backends
from moto.moto_api._internal import mock_random as random
from moto.moto_api._internal import urls as moto_api_urls
from moto.sts.models import sts_backends

from .common import paginate, utcnow

# --- The add-on catalogue -------------------------------------------------
#
# What DescribeAddonVersions reports. Real EKS publishes several versions per
# add-on and Kubernetes minor, one of them flagged `defaultVersion`; the
# default is deliberately NOT the newest here (as is common on AWS), so code
# that means "latest" must really pick the newest rather than the default.

SUPPORTED_MINORS = range(23, 35)  # Kubernetes 1.23 ... 1.34


def _kube_proxy_versions(minor: int) -> list[str]:
    return [f"v1.{minor}.7-eksbuild.2", f"v1.{minor}.3-eksbuild.5"]


def _coredns_versions(minor: int) -> list[str]:
    if minor >= 29:
        return ["v1.11.4-eksbuild.2", "v1.11.3-eksbuild.1"]
    if minor >= 25:
        return ["v1.10.1-eksbuild.18", "v1.9.3-eksbuild.22"]
    return ["v1.8.7-eksbuild.10", "v1.8.4-eksbuild.2"]


ADDONS: dict[str, dict[str, Any]] = {
    "vpc-cni": {
        "type": "networking",
        "versions": lambda minor: ["v1.19.2-eksbuild.1", "v1.18.6-eksbuild.1"],
        "requiresIamPermissions": True,
        "defaultNamespace": "kube-system",
    },
    "coredns": {
        "type": "networking",
        "versions": _coredns_versions,
        "requiresIamPermissions": False,
        "defaultNamespace": "kube-system",
    },
    "kube-proxy": {
        "type": "networking",
        "versions": _kube_proxy_versions,
        "requiresIamPermissions": False,
        "defaultNamespace": "kube-system",
    },
    "aws-ebs-csi-driver": {
        "type": "storage",
        "versions": lambda minor: ["v1.38.1-eksbuild.2", "v1.37.0-eksbuild.1"],
        "requiresIamPermissions": True,
        "defaultNamespace": "kube-system",
    },
    "eks-pod-identity-agent": {
        "type": "security",
        "versions": lambda minor: ["v1.3.4-eksbuild.1", "v1.3.2-eksbuild.2"],
        "requiresIamPermissions": False,
        "defaultNamespace": "kube-system",
    },
    "snapshot-controller": {
        "type": "storage",
        "versions": lambda minor: ["v8.1.0-eksbuild.2", "v8.0.0-eksbuild.1"],
        "requiresIamPermissions": False,
        "defaultNamespace": "kube-system",
    },
}


def _minor(kubernetes_version: str | None) -> int | None:
    try:
        major, minor = (kubernetes_version or "").split(".")[:2]
        return int(minor) if major == "1" else None
    except ValueError:
        return None


def addon_versions(addon_name: str, kubernetes_version: str) -> list[str]:
    """Versions of an add-on for a cluster version, newest first."""
    minor = _minor(kubernetes_version)
    if addon_name not in ADDONS or minor not in SUPPORTED_MINORS:
        return []
    return list(ADDONS[addon_name]["versions"](minor))


def default_addon_version(addon_name: str, kubernetes_version: str) -> str | None:
    versions = addon_versions(addon_name, kubernetes_version)
    return versions[-1] if versions else None


def _addon_version_info(addon_name: str, version: str, minors: list[int]) -> dict[str, Any]:
    return {
        "addonVersion": version,
        "architecture": ["amd64", "arm64"],
        "computeTypes": ["ec2"],
        "compatibilities": [
            {
                "clusterVersion": f"1.{m}",
                "platformVersions": ["*"],
                "defaultVersion": default_addon_version(addon_name, f"1.{m}") == version,
            }
            for m in minors
        ],
        "requiresConfiguration": False,
        "requiresIamPermissions": ADDONS[addon_name]["requiresIamPermissions"],
    }


# --- State ----------------------------------------------------------------
#
# Add-ons and updates live on moto's Cluster objects, so they are scoped per
# account and region exactly like the clusters themselves.


class FakeAddon:
    def __init__(
        self,
        cluster: eks_models.Cluster,
        addon_name: str,
        addon_version: str,
        service_account_role_arn: str | None,
        configuration_values: str | None,
        tags: dict[str, str] | None,
        account_id: str,
        region_name: str,
        partition: str,
    ):
        self.addon_name = addon_name
        self.cluster_name = cluster.name
        self.addon_version = addon_version
        self.service_account_role_arn = service_account_role_arn
        self.configuration_values = configuration_values
        self.tags = tags or {}
        self.status = "ACTIVE"
        self.health = {"issues": []}
        self.created_at = utcnow()
        self.modified_at = self.created_at
        self.addon_arn = (
            f"arn:{partition}:eks:{region_name}:{account_id}:addon/"
            f"{cluster.name}/{addon_name}/{random.uuid4()}"
        )
        self.publisher = "eks"
        self.owner = "aws"
        self.pod_identity_associations: list[str] = []

    def to_dict(self, status: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "addonName": self.addon_name,
            "clusterName": self.cluster_name,
            "status": status or self.status,
            "addonVersion": self.addon_version,
            "health": self.health,
            "addonArn": self.addon_arn,
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
            "tags": self.tags,
            "publisher": self.publisher,
            "owner": self.owner,
            "podIdentityAssociations": self.pod_identity_associations,
        }
        if self.service_account_role_arn:
            out["serviceAccountRoleArn"] = self.service_account_role_arn
        if self.configuration_values:
            out["configurationValues"] = self.configuration_values
        return out


def _addons(cluster: eks_models.Cluster) -> dict[str, FakeAddon]:
    if not hasattr(cluster, "stackplan_addons"):
        cluster.stackplan_addons = {}
    return cluster.stackplan_addons


def _updates(cluster: eks_models.Cluster) -> list[dict[str, Any]]:
    if not hasattr(cluster, "stackplan_updates"):
        cluster.stackplan_updates = []
    return cluster.stackplan_updates


def _record_update(
    cluster: eks_models.Cluster,
    update_type: str,
    params: list[dict[str, str]],
    nodegroup_name: str | None = None,
    addon_name: str | None = None,
) -> dict[str, Any]:
    """Stores a finished update and returns what the mutating call answers.

    AWS answers a mutating call with status InProgress and finishes the
    update asynchronously; here the change is applied at once, so
    DescribeUpdate already reports Successful.
    """
    update = {
        "id": str(random.uuid4()),
        "status": "Successful",
        "type": update_type,
        "params": params,
        "createdAt": utcnow(),
        "errors": [],
        "_nodegroup": nodegroup_name,
        "_addon": addon_name,
    }
    _updates(cluster).append(update)
    answer = _public_update(update)
    answer["status"] = "InProgress"
    return answer


def _public_update(update: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in update.items() if not k.startswith("_")}


def _cluster_or_404(backend: EKSBackend, name: str) -> eks_models.Cluster:
    try:
        return backend.clusters[name]
    except KeyError:
        raise ResourceNotFoundException(
            clusterName=name,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=None,
            message=eks_models.CLUSTER_NOT_FOUND_MSG.format(clusterName=name),
        )


def _addon_or_404(cluster: eks_models.Cluster, addon_name: str) -> FakeAddon:
    addon = _addons(cluster).get(addon_name)
    if addon is None:
        raise ResourceNotFoundException(
            clusterName=cluster.name,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=addon_name,
            message=f"No addon: {addon_name} found in cluster: {cluster.name}",
        )
    return addon


def _invalid(message: str, **names: Any) -> InvalidParameterException:
    return InvalidParameterException(
        clusterName=names.get("clusterName"),
        nodegroupName=names.get("nodegroupName"),
        fargateProfileName=None,
        addonName=names.get("addonName"),
        message=message,
    )


def _validate_scaling(scaling: dict[str, Any] | None, nodegroup: str | None) -> None:
    if not scaling:
        return
    lo, want, hi = scaling.get("minSize"), scaling.get("desiredSize"), scaling.get("maxSize")
    if hi is not None and hi < 1:
        raise _invalid("Maxsize must be greater than 0", nodegroupName=nodegroup)
    if lo is not None and want is not None and want < lo:
        raise _invalid(
            "Minimum capacity " f"{lo} can't be greater than desired size {want}",
            nodegroupName=nodegroup,
        )
    if hi is not None and want is not None and want > hi:
        raise _invalid(
            f"Desired capacity {want} can't be greater than max size {hi}",
            nodegroupName=nodegroup,
        )


# --- Backend methods ------------------------------------------------------

_orig_create_cluster = EKSBackend.create_cluster
_orig_delete_cluster = EKSBackend.delete_cluster
_orig_create_nodegroup = EKSBackend.create_nodegroup
_orig_list_nodegroups = EKSBackend.list_nodegroups


def _subnets_vpc(backend: EKSBackend, subnet_ids: list[str], **names: Any) -> str | None:
    """Checks the subnets exist in moto's EC2 and returns their VPC id.

    Real EKS rejects unknown subnets and clusters whose subnets do not span
    two Availability Zones.
    """
    if not subnet_ids:
        return None
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    vpcs, zones = set(), set()
    for subnet_id in subnet_ids:
        try:
            subnet = ec2.get_subnet(subnet_id)
        except Exception:
            subnet = None
        if subnet is None:
            raise _invalid(f"The subnet ID '{subnet_id}' does not exist", **names)
        vpcs.add(subnet.vpc_id)
        zones.add(subnet.availability_zone)
    if len(vpcs) > 1:
        raise _invalid("Subnets specified must belong to the same VPC", **names)
    if names.get("nodegroupName") is None and len(zones) < 2:
        raise _invalid("Subnets specified must be in at least two different AZs", **names)
    return vpcs.pop()


def create_cluster(
    self: EKSBackend, name: str, role_arn: str, resources_vpc_config: dict[str, Any], **kwargs: Any
) -> eks_models.Cluster:
    resources_vpc_config = dict(resources_vpc_config or {})
    vpc_id = None
    if name not in self.clusters:
        vpc_id = _subnets_vpc(self, resources_vpc_config.get("subnetIds") or [], clusterName=name)
    cluster = _orig_create_cluster(self, name, role_arn, resources_vpc_config, **kwargs)
    # moto draws ONE issuer id per process for every cluster; EKS gives each
    # cluster its own, and IAM refuses a second OIDC provider for the same URL.
    issuer_id = random.get_random_hex(32).upper()
    cluster.identity = {
        "oidc": {"issuer": f"https://oidc.eks.{self.region_name}.amazonaws.com/id/{issuer_id}"}
    }
    # EKS creates a cluster security group and reports it, with the VPC id
    # and the endpoint access defaults, in resourcesVpcConfig.
    resources_vpc_config.setdefault("subnetIds", [])
    resources_vpc_config.setdefault("securityGroupIds", [])
    resources_vpc_config.setdefault("endpointPublicAccess", True)
    resources_vpc_config.setdefault("endpointPrivateAccess", False)
    resources_vpc_config.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
    if vpc_id:
        ec2 = ec2_backends[self.account_id][self.region_name]
        group = ec2.create_security_group(
            name=f"eks-cluster-sg-{name}-{random.get_random_string(10, lower_case=True)}",
            description=(
                "EKS created security group applied to ENI that is attached to EKS "
                "Control Plane master nodes, as well as any managed workloads."
            ),
            vpc_id=vpc_id,
            tags={"aws:eks:cluster-name": name, f"kubernetes.io/cluster/{name}": "owned"},
        )
        resources_vpc_config["clusterSecurityGroupId"] = group.id
        resources_vpc_config["vpcId"] = vpc_id
    cluster.resources_vpc_config = resources_vpc_config
    return cluster


def delete_cluster(self: EKSBackend, name: str) -> eks_models.Cluster:
    cluster = _orig_delete_cluster(self, name)
    # Deleting a cluster deletes its add-ons, its access entries and the
    # security group EKS made.
    _addons(cluster).clear()
    _access_entries(cluster).clear()
    group_id = (cluster.resources_vpc_config or {}).get("clusterSecurityGroupId")
    if group_id:
        ec2 = ec2_backends[self.account_id][self.region_name]
        try:
            ec2.delete_security_group(group_id=group_id)
        except Exception:
            pass  # still referenced by someone else's rule: AWS would keep it too
    cluster.status = "DELETING"
    return cluster


def create_nodegroup(
    self: EKSBackend,
    cluster_name: str,
    node_role: str,
    nodegroup_name: str,
    subnets: list[str],
    **kwargs: Any,
) -> eks_models.Nodegroup:
    cluster = _cluster_or_404(self, cluster_name)
    if nodegroup_name not in cluster.nodegroups:
        _subnets_vpc(self, subnets or [], clusterName=cluster_name, nodegroupName=nodegroup_name)
        _validate_scaling(kwargs.get("scaling_config"), nodegroup_name)
    # EKS defaults a node group's Kubernetes version to the cluster's; moto
    # defaults it to a fixed 1.19.
    if not kwargs.get("version") and not kwargs.get("launch_template"):
        kwargs["version"] = cluster.version
    if not kwargs.get("release_version"):
        kwargs["release_version"] = latest_release(kwargs.get("version") or cluster.version)
    if nodegroup_name not in cluster.nodegroups and kwargs.get("version"):
        _check_nodegroup_target(
            cluster, kwargs["version"], kwargs.get("release_version"), nodegroup_name
        )
    if kwargs.get("scaling_config"):
        kwargs["scaling_config"] = dict(kwargs["scaling_config"])
    return _orig_create_nodegroup(self, cluster_name, node_role, nodegroup_name, subnets, **kwargs)


def list_nodegroups(
    self: EKSBackend, cluster_name: str, max_results: int, next_token: str | None
) -> tuple[list[str], str | None]:
    """An unknown cluster is ResourceNotFoundException, as EKS answers
    (botocore eks model, ListNodegroups errors); moto failed with HTTP 500."""
    _cluster_or_404(self, cluster_name)
    return _orig_list_nodegroups(self, cluster_name, max_results, next_token)


def create_addon(
    self: EKSBackend,
    cluster_name: str,
    addon_name: str,
    addon_version: str | None,
    service_account_role_arn: str | None,
    configuration_values: str | None,
    tags: dict[str, str] | None,
) -> dict[str, Any]:
    cluster = _cluster_or_404(self, cluster_name)
    if addon_name in _addons(cluster):
        raise ResourceInUseException(
            clusterName=cluster_name,
            nodegroupName=None,
            addonName=addon_name,
            message=f"Addon already exists with name: {addon_name}",
        )
    if not cluster.is_active:
        raise InvalidRequestException(
            message=eks_models.CLUSTER_NOT_READY_MSG.format(clusterName=cluster_name)
        )
    versions = addon_versions(addon_name, cluster.version)
    if not versions:
        raise _invalid(
            f"Addon {addon_name} specified is not supported in {cluster.version} kubernetes version",
            clusterName=cluster_name,
            addonName=addon_name,
        )
    version = addon_version or default_addon_version(addon_name, cluster.version)
    if version not in versions:
        raise _invalid(
            f"Addon version specified is not supported: {version}",
            clusterName=cluster_name,
            addonName=addon_name,
        )
    if service_account_role_arn:
        validate_role_arn(service_account_role_arn)
    addon = FakeAddon(
        cluster,
        addon_name,
        version,
        service_account_role_arn,
        configuration_values,
        tags,
        self.account_id,
        self.region_name,
        self.partition,
    )
    _addons(cluster)[addon_name] = addon
    # AWS answers CREATING and reaches ACTIVE later; here the next read does.
    return addon.to_dict(status="CREATING")


def describe_addon(self: EKSBackend, cluster_name: str, addon_name: str) -> dict[str, Any]:
    return _addon_or_404(_cluster_or_404(self, cluster_name), addon_name).to_dict()


def update_addon(
    self: EKSBackend,
    cluster_name: str,
    addon_name: str,
    addon_version: str | None,
    service_account_role_arn: str | None,
    resolve_conflicts: str | None,
    configuration_values: str | None,
) -> dict[str, Any]:
    cluster = _cluster_or_404(self, cluster_name)
    addon = _addon_or_404(cluster, addon_name)
    params = []
    if addon_version is not None:
        if addon_version not in addon_versions(addon_name, cluster.version):
            raise _invalid(
                f"Addon version specified is not supported: {addon_version}",
                clusterName=cluster_name,
                addonName=addon_name,
            )
        addon.addon_version = addon_version
        params.append({"type": "AddonVersion", "value": addon_version})
    if service_account_role_arn is not None:
        # An empty string removes the role, as on AWS.
        if service_account_role_arn:
            validate_role_arn(service_account_role_arn)
        addon.service_account_role_arn = service_account_role_arn or None
        params.append({"type": "ServiceAccountRoleArn", "value": service_account_role_arn})
    if resolve_conflicts is not None:
        params.append({"type": "ResolveConflicts", "value": resolve_conflicts})
    if configuration_values is not None:
        addon.configuration_values = configuration_values or None
        params.append({"type": "ConfigurationValues", "value": configuration_values})
    addon.modified_at = utcnow()
    return _record_update(cluster, "AddonUpdate", params, addon_name=addon_name)


def delete_addon(self: EKSBackend, cluster_name: str, addon_name: str) -> dict[str, Any]:
    cluster = _cluster_or_404(self, cluster_name)
    addon = _addon_or_404(cluster, addon_name)
    del _addons(cluster)[addon_name]
    return addon.to_dict(status="DELETING")


def list_addons(
    self: EKSBackend, cluster_name: str, max_results: Any, next_token: Any
) -> tuple[list[str], str | None]:
    cluster = _cluster_or_404(self, cluster_name)
    return paginate(sorted(_addons(cluster)), max_results, next_token)


def describe_addon_versions(
    self: EKSBackend,
    kubernetes_version: str | None,
    addon_name: str | None,
    types: list[str] | None,
    max_results: Any,
    next_token: Any,
) -> tuple[list[dict[str, Any]], str | None]:
    minors = list(SUPPORTED_MINORS)
    if kubernetes_version:
        minor = _minor(kubernetes_version)
        minors = [minor] if minor in SUPPORTED_MINORS else []
    result = []
    for name in sorted(ADDONS):
        if addon_name and name != addon_name:
            continue
        if types and ADDONS[name]["type"] not in types:
            continue
        by_version: dict[str, list[int]] = {}
        for m in minors:
            for v in addon_versions(name, f"1.{m}"):
                by_version.setdefault(v, []).append(m)
        if not by_version:
            continue
        ordered = sorted(by_version, key=_version_key, reverse=True)
        result.append(
            {
                "addonName": name,
                "type": ADDONS[name]["type"],
                "addonVersions": [_addon_version_info(name, v, by_version[v]) for v in ordered],
                "publisher": "eks",
                "owner": "aws",
                "defaultNamespace": ADDONS[name]["defaultNamespace"],
            }
        )
    return paginate(result, max_results, next_token)


def _version_key(version: str) -> tuple[int, ...]:
    """v1.11.4-eksbuild.2 -> (1, 11, 4, 2): numeric order, newest last."""
    digits = version.lstrip("v").replace("-eksbuild", "").replace("-", ".").split(".")
    return tuple(int(d) for d in digits if d.isdigit())


# UpdateClusterVersion with node groups behind. botocore eks model (1.44.8),
# UpdateClusterVersion: "If your cluster has managed node groups attached to
# it, all of your node groups' Kubernetes versions must match the cluster's
# Kubernetes version in order to update the cluster to a new Kubernetes
# version." AWS's message as quoted in hashicorp/terraform-provider-aws#19478
# (HTTP 400, with the cluster name) and in awsdocs/amazon-eks-user-guide#475:
# "Nodegroups X must be updated to match cluster version 1.16 before updating
# cluster version". The exception type is not confirmed; botocore's
# InvalidRequestException is "The request is invalid given the state of the
# cluster".
NODEGROUPS_BEHIND_MSG = (
    "Nodegroups {names} must be updated to match cluster version {version} "
    "before updating cluster version"
)


def update_cluster_version(self: EKSBackend, name: str, version: str) -> dict[str, Any]:
    cluster = _cluster_or_404(self, name)
    behind = sorted(
        ng_name
        for ng_name, ng in cluster.nodegroups.items()
        if _minor(getattr(ng, "version", None)) != _minor(cluster.version)
    )
    if behind:
        raise InvalidRequestException(
            message=NODEGROUPS_BEHIND_MSG.format(names=",".join(behind), version=cluster.version)
        )
    current, target = _minor(cluster.version), _minor(version)
    if target is None or current is None or target != current + 1:
        raise _invalid(
            f"Unsupported Kubernetes minor version update from {cluster.version} to {version}",
            clusterName=name,
        )
    cluster.version = version
    cluster.platformVersion = "eks.1"
    return _record_update(
        cluster,
        "VersionUpdate",
        [{"type": "Version", "value": version}, {"type": "PlatformVersion", "value": "eks.1"}],
    )


# The AMI releases of a Kubernetes version: `<version>.<patch>-<date>`, as
# the EKS optimized AMI release versions are spelled (EKS user guide,
# "Amazon EKS optimized Amazon Linux AMI versions"). Two per minor, so an
# AMI refresh within a minor has somewhere to go; the newest is what EKS
# picks when no releaseVersion is given (botocore eks model,
# UpdateNodegroupVersionRequest.releaseVersion: "By default, the latest
# available AMI version for the node group's Kubernetes version is used").
#
# `POST /moto-api/stackplan/eks/publish-ami-release` with
# `{"kubernetesVersion": "1.30", "releaseVersion": "1.30.0-20250401"}` does
# what AWS does when it publishes a new EKS optimized AMI: the release
# becomes the version's newest, the default of later CreateNodegroup and
# UpdateNodegroupVersion calls, and the value of the version's public SSM
# `recommended/release_version` parameters (see `ssm.py`). It is the
# harness's control, not an AWS operation.
PUBLISHED_RELEASES: dict[str, list[str]] = {}


def releases(kubernetes_version: str) -> list[str]:
    """AMI releases of a Kubernetes version, newest first."""
    published = sorted(PUBLISHED_RELEASES.get(kubernetes_version, []), reverse=True)
    return published + [f"{kubernetes_version}.0-20250301", f"{kubernetes_version}.0-20250101"]


def publish_ami_release(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """Publishes a newer AMI release of a Kubernetes version."""
    json_headers = {"Content-Type": "application/json"}
    if request.method != "POST":
        return 405, json_headers, json.dumps({"message": "POST only"})
    try:
        body = json.loads(request.data or b"{}")
        version, release = body["kubernetesVersion"], body["releaseVersion"]
    except (ValueError, KeyError, AttributeError):
        return 400, json_headers, json.dumps(
            {"message": 'expected {"kubernetesVersion": "1.30", "releaseVersion": "1.30.0-20250401"}'}
        )
    if not re.fullmatch(re.escape(version) + r"\.\d+-\d{8}", release) or release <= latest_release(version):
        return 400, json_headers, json.dumps(
            {"message": f"{release} is not a newer AMI release of Kubernetes {version}"}
        )
    PUBLISHED_RELEASES.setdefault(version, []).append(release)
    return 200, json_headers, json.dumps({"kubernetesVersion": version, "latest": latest_release(version)})


def latest_release(kubernetes_version: str) -> str:
    return releases(kubernetes_version)[0]


def _check_nodegroup_target(
    cluster: eks_models.Cluster, target: str, release: str | None, nodegroup_name: str
) -> None:
    """What EKS refuses of a node group's version: newer than the cluster,
    or an AMI release that is not one of the version's."""
    if (_minor(target) or 0) > (_minor(cluster.version) or 0):
        raise _invalid(
            f"Requested Kubernetes version {target} is newer than the cluster version {cluster.version}",
            clusterName=cluster.name,
            nodegroupName=nodegroup_name,
        )
    if release is not None and release not in releases(target):
        raise _invalid(
            f"Requested release version {release} is not valid for kubernetes version {target}.",
            clusterName=cluster.name,
            nodegroupName=nodegroup_name,
        )


def update_nodegroup_version(
    self: EKSBackend,
    cluster_name: str,
    nodegroup_name: str,
    version: str | None,
    release_version: str | None,
) -> dict[str, Any]:
    cluster = _cluster_or_404(self, cluster_name)
    nodegroup = cluster.nodegroups.get(nodegroup_name)
    if nodegroup is None:
        raise ResourceNotFoundException(
            clusterName=cluster_name,
            nodegroupName=nodegroup_name,
            fargateProfileName=None,
            addonName=None,
            message=eks_models.NODEGROUP_NOT_FOUND_MSG.format(nodegroupName=nodegroup_name),
        )
    # No version: the node group's own when a release is asked for (an AMI
    # refresh), else the cluster's (botocore eks model,
    # UpdateNodegroupVersionRequest.version).
    target = version or (nodegroup.version if release_version else cluster.version)
    _check_nodegroup_target(cluster, target, release_version, nodegroup_name)
    # "You cannot roll back a node group to an earlier Kubernetes version or
    # AMI version." (botocore eks model, UpdateNodegroupVersion)
    if (_minor(target) or 0) < (_minor(nodegroup.version) or 0):
        raise _invalid(
            f"Requested Kubernetes version {target} is older than the node group's "
            f"version {nodegroup.version}",
            clusterName=cluster_name,
            nodegroupName=nodegroup_name,
        )
    nodegroup.version = target
    nodegroup.release_version = release_version or latest_release(target)
    nodegroup.modified_at = utcnow()
    return _record_update(
        cluster,
        "VersionUpdate",
        [
            {"type": "Version", "value": nodegroup.version},
            {"type": "ReleaseVersion", "value": nodegroup.release_version},
        ],
        nodegroup_name=nodegroup_name,
    )


def describe_update(
    self: EKSBackend, name: str, update_id: str, nodegroup_name: str | None, addon_name: str | None
) -> dict[str, Any]:
    cluster = _cluster_or_404(self, name)
    for update in _updates(cluster):
        if (
            update["id"] == update_id
            and update["_nodegroup"] == nodegroup_name
            and update["_addon"] == addon_name
        ):
            return _public_update(update)
    raise ResourceNotFoundException(
        clusterName=name,
        nodegroupName=nodegroup_name,
        fargateProfileName=None,
        addonName=addon_name,
        message=f"No update found for ID: {update_id}",
    )


def list_updates(
    self: EKSBackend,
    name: str,
    nodegroup_name: str | None,
    addon_name: str | None,
    max_results: Any,
    next_token: Any,
) -> tuple[list[str], str | None]:
    cluster = _cluster_or_404(self, name)
    ids = [
        u["id"]
        for u in _updates(cluster)
        if u["_nodegroup"] == nodegroup_name and u["_addon"] == addon_name
    ]
    return paginate(ids, max_results, next_token)


# --- Client request tokens ------------------------------------------------
#
# botocore eks model (1.44.8), clientRequestToken of CreateCluster,
# CreateNodegroup and CreateAddon (and of every update): "A unique,
# case-sensitive identifier that you provide to ensure the idempotency of
# the request." (idempotencyToken: true; the SDKs fill one in and re-send it
# when they retry). As AWS's idempotency works ("Ensuring idempotency", EC2
# API reference, which EKS follows): a repeat of a create with the same
# token and the same parameters succeeds and answers the resource the first
# one made; another token for a name in use is ResourceInUseException, as
# before. A repeat with the same token and other parameters is treated as a
# new request (EKS's model has no IdempotentParameterMismatch error, so it
# gets ResourceInUseException too). moto stored the token and ignored it.


def _create_request(response: EKSResponse) -> tuple[str, str] | None:
    """The token and a fingerprint of everything else the create asked for
    (its path, which names the cluster, and its body), or None without a
    token."""
    try:
        body = json.loads(response.body or "{}")
    except ValueError:
        body = {}
    token = body.pop("clientRequestToken", None)
    if not token:
        return None
    return token, json.dumps({"path": response.path, "body": body}, sort_keys=True)


def _repeated_create(response: EKSResponse, existing: Any) -> bool:
    """True when `existing` was made by this very request (a retry)."""
    request = _create_request(response)
    return (
        existing is not None
        and request is not None
        and getattr(existing, "stackplan_create_request", None) == request
    )


def _remember_create(response: EKSResponse, created: Any) -> None:
    if created is not None:
        created.stackplan_create_request = _create_request(response)


# --- Response handlers ----------------------------------------------------


def _r_create_addon(self: EKSResponse) -> ActionResult:
    cluster = self.eks_backend.clusters.get(self._get_param("name"))
    existing = _addons(cluster).get(self._get_param("addonName")) if cluster else None
    if _repeated_create(self, existing):
        return ActionResult({"addon": existing.to_dict()})
    addon = self.eks_backend.create_addon(
        cluster_name=self._get_param("name"),
        addon_name=self._get_param("addonName"),
        addon_version=self._get_param("addonVersion"),
        service_account_role_arn=self._get_param("serviceAccountRoleArn"),
        configuration_values=self._get_param("configurationValues"),
        tags=self._get_param("tags"),
    )
    cluster = self.eks_backend.clusters[self._get_param("name")]
    _remember_create(self, _addons(cluster).get(self._get_param("addonName")))
    return ActionResult({"addon": addon})


def _r_describe_addon(self: EKSResponse) -> ActionResult:
    addon = self.eks_backend.describe_addon(self._get_param("name"), self._get_param("addonName"))
    return ActionResult({"addon": addon})


def _r_update_addon(self: EKSResponse) -> ActionResult:
    update = self.eks_backend.update_addon(
        cluster_name=self._get_param("name"),
        addon_name=self._get_param("addonName"),
        addon_version=self._get_param("addonVersion"),
        service_account_role_arn=self._get_param("serviceAccountRoleArn"),
        resolve_conflicts=self._get_param("resolveConflicts"),
        configuration_values=self._get_param("configurationValues"),
    )
    return ActionResult({"update": update})


def _r_delete_addon(self: EKSResponse) -> ActionResult:
    addon = self.eks_backend.delete_addon(self._get_param("name"), self._get_param("addonName"))
    return ActionResult({"addon": addon})


def _r_list_addons(self: EKSResponse) -> ActionResult:
    names, token = self.eks_backend.list_addons(
        self._get_param("name"), self._get_param("maxResults"), self._get_param("nextToken")
    )
    return ActionResult({"addons": names, "nextToken": token})


def _r_describe_addon_versions(self: EKSResponse) -> ActionResult:
    types = self.querystring.get("types")
    addons, token = self.eks_backend.describe_addon_versions(
        kubernetes_version=self._get_param("kubernetesVersion"),
        addon_name=self._get_param("addonName"),
        types=types,
        max_results=self._get_param("maxResults"),
        next_token=self._get_param("nextToken"),
    )
    return ActionResult({"addons": addons, "nextToken": token})


def _r_update_cluster_version(self: EKSResponse) -> ActionResult:
    update = self.eks_backend.update_cluster_version(
        self._get_param("name"), self._get_param("version")
    )
    return ActionResult({"update": update})


def _r_update_nodegroup_version(self: EKSResponse) -> ActionResult:
    update = self.eks_backend.update_nodegroup_version(
        cluster_name=self._get_param("name"),
        nodegroup_name=self._get_param("nodegroupName"),
        version=self._get_param("version"),
        release_version=self._get_param("releaseVersion"),
    )
    return ActionResult({"update": update})


def _r_describe_update(self: EKSResponse) -> ActionResult:
    update = self.eks_backend.describe_update(
        name=self._get_param("name"),
        update_id=self._get_param("updateId"),
        nodegroup_name=self._get_param("nodegroupName"),
        addon_name=self._get_param("addonName"),
    )
    return ActionResult({"update": update})


def _r_list_updates(self: EKSResponse) -> ActionResult:
    ids, token = self.eks_backend.list_updates(
        name=self._get_param("name"),
        nodegroup_name=self._get_param("nodegroupName"),
        addon_name=self._get_param("addonName"),
        max_results=self._get_param("maxResults"),
        next_token=self._get_param("nextToken"),
    )
    return ActionResult({"updateIds": ids, "nextToken": token})


def _r_update_cluster_config(self: EKSResponse) -> ActionResult:
    """UpdateClusterConfig answers `{"update": ...}` on AWS (moto answers the
    cluster), and a partial resourcesVpcConfig changes only what it names."""
    name = self._get_param("name")
    cluster = _cluster_or_404(self.eks_backend, name)
    vpc = self._get_param("resourcesVpcConfig")
    logging = self._get_param("logging")
    access = self._get_param("accessConfig")
    params = []
    update_type = "ConfigUpdate"
    if access:
        params.extend(_update_access_config(cluster, access, name))
        update_type = "AccessConfigUpdate"
    if vpc:
        merged = copy.deepcopy(cluster.resources_vpc_config or {})
        merged.update(vpc)
        cluster.resources_vpc_config = merged
        endpoint_keys = {"endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs"}
        update_type = "EndpointAccessUpdate" if set(vpc) <= endpoint_keys else "VpcConfigUpdate"
        mapping = {
            "endpointPublicAccess": "EndpointPublicAccess",
            "endpointPrivateAccess": "EndpointPrivateAccess",
            "publicAccessCidrs": "PublicAccessCidrs",
            "subnetIds": "Subnets",
            "securityGroupIds": "SecurityGroups",
        }
        for key, value in vpc.items():
            if key in mapping:
                params.append(
                    {
                        "type": mapping[key],
                        "value": str(value).lower() if isinstance(value, bool) else str(value),
                    }
                )
    if logging:
        cluster.logging = logging
        update_type = "LoggingUpdate"
        params.append({"type": "ClusterLogging", "value": str(logging)})
    if not params:
        raise _invalid("No changes needed", clusterName=name)
    return ActionResult({"update": _record_update(cluster, update_type, params)})


# --- Access configuration ----------------------------------------------------
# moto ignores accessConfig. EKS (botocore eks model, CreateAccessConfigRequest)
# defaults authenticationMode to CONFIG_MAP through the API and
# bootstrapClusterCreatorAdminPermissions to true, and UpdateClusterConfig
# moves the mode forward only, CONFIG_MAP -> API_AND_CONFIG_MAP -> API (EKS
# user guide, "Change authentication mode to use access entries").

AUTHENTICATION_MODES = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"]

_orig_r_create_cluster = EKSResponse.create_cluster


def _r_create_cluster(self: EKSResponse) -> ActionResult:
    existing = self.eks_backend.clusters.get(self._get_param("name"))
    if _repeated_create(self, existing):
        return ActionResult({"cluster": existing})
    access = self._get_param("accessConfig") or {}
    mode = access.get("authenticationMode") or "CONFIG_MAP"
    if mode not in AUTHENTICATION_MODES:
        raise _invalid(f"Unsupported authentication mode {mode}", clusterName=self._get_param("name"))
    bootstrap = access.get("bootstrapClusterCreatorAdminPermissions")
    bootstrap = True if bootstrap is None else bool(bootstrap)
    if mode == "CONFIG_MAP" and not bootstrap:
        # EKS's answer to this combination, as reported in
        # terraform-aws-modules/terraform-aws-eks#3026 and #3270: in
        # CONFIG_MAP mode the creator is the only way into the cluster.
        raise _invalid(
            "bootstrapClusterCreatorAdminPermissions must be true if cluster "
            "authentication mode is set to CONFIG_MAP",
            clusterName=self._get_param("name"),
        )
    result = _orig_r_create_cluster(self)
    cluster = self.eks_backend.clusters[self._get_param("name")]
    cluster.access_config = {
        "authenticationMode": mode,
        "bootstrapClusterCreatorAdminPermissions": bootstrap,
    }
    if bootstrap:
        _bootstrap_creator_entry(self, cluster)
    _remember_create(self, cluster)
    return result


def _update_access_config(cluster: Any, access: dict[str, Any], name: str) -> list[dict[str, str]]:
    current = (getattr(cluster, "access_config", None) or {}).get("authenticationMode", "CONFIG_MAP")
    wanted = access.get("authenticationMode")
    if wanted not in AUTHENTICATION_MODES:
        raise _invalid(f"Unsupported authentication mode {wanted}", clusterName=name)
    if AUTHENTICATION_MODES.index(wanted) < AUTHENTICATION_MODES.index(current):
        raise _invalid(
            f"Unsupported authentication mode update from {current} to {wanted}",
            clusterName=name,
        )
    if wanted == current:
        return []
    config = dict(getattr(cluster, "access_config", None) or {})
    config["authenticationMode"] = wanted
    cluster.access_config = config
    return [{"type": "AuthenticationMode", "value": wanted}]


_orig_update_nodegroup_config = EKSBackend.update_nodegroup_config


def _r_update_nodegroup_config(self: EKSResponse) -> ActionResult:
    cluster_name = self._get_param("name")
    nodegroup_name = self._get_param("nodegroupName")
    cluster = _cluster_or_404(self.eks_backend, cluster_name)
    scaling = self._get_param("scalingConfig")
    nodegroup = cluster.nodegroups.get(nodegroup_name)
    if scaling and nodegroup is not None:
        _validate_scaling({**nodegroup.scaling_config, **scaling}, nodegroup_name)
    done = _orig_update_nodegroup_config(
        self.eks_backend,
        cluster_name=cluster_name,
        nodegroup_name=nodegroup_name,
        labels=self._get_param("labels"),
        taints=self._get_param("taints"),
        scaling_config=scaling,
        update_config=self._get_param("updateConfig"),
        node_repair_config=self._get_param("nodeRepairConfig"),
        client_request_token=self._get_param("clientRequestToken"),
    )
    update = _record_update(cluster, "ConfigUpdate", done["params"], nodegroup_name=nodegroup_name)
    return ActionResult({"update": update})


_orig_r_create_nodegroup = EKSResponse.create_nodegroup


def _r_create_nodegroup(self: EKSResponse) -> ActionResult:
    """A retry of a create answers the node group it made; any other
    request for a name the cluster has is ResourceInUseException (moto's
    own check, NODEGROUP_EXISTS_MSG: EKS refuses a second node group of a
    name in a cluster, botocore eks model CreateNodegroup errors)."""
    cluster = self.eks_backend.clusters.get(self._get_param("name"))
    nodegroup_name = self._get_param("nodegroupName")
    existing = cluster.nodegroups.get(nodegroup_name) if cluster else None
    if _repeated_create(self, existing):
        return ActionResult({"nodegroup": existing})
    result = _orig_r_create_nodegroup(self)
    _remember_create(self, cluster.nodegroups.get(nodegroup_name) if cluster else None)
    return result


# --- Access entries ----------------------------------------------------------
#
# CreateAccessEntry, DescribeAccessEntry, UpdateAccessEntry, DeleteAccessEntry,
# ListAccessEntries, AssociateAccessPolicy, DisassociateAccessPolicy,
# ListAssociatedAccessPolicies and ListAccessPolicies, which moto lacks.
# Shapes: botocore's eks model (2017-11-01). Rules and their sources:
#
# [ug-create]  EKS user guide, "Create access entries"
#              (awsdocs/amazon-eks-user-guide, creating-access-entries.adoc)
# [ug-assoc]   EKS user guide, "Associate access policies with access entries"
#              (access-policies.adoc)
# [ug-mode]    EKS user guide, "Change authentication mode to use access
#              entries" (setting-up-access-entries.adoc) and "Grant IAM users
#              and roles access to Kubernetes APIs" (grant-k8s-access.adoc)
# [ug-ref]     EKS user guide, "Review access policy permissions"
#              (access-policy-reference.adoc): the policy catalogue
# [ug-legacy]  EKS user guide, "Manage access entries" (access-entries.html,
#              Prerequisites, "Important") and access-entries.adoc "Legacy
#              cluster access configuration"
# [model]      botocore eks model documentation strings
# The error messages are AWS's own where a public report quotes them (each
# cites it); the others are marked "message not confirmed".

# Every policy the catalogue page names, plus the two its `list-access-policies`
# example shows ([ug-ref]). ARN: arn:<partition>:eks::aws:cluster-access-policy/<Name>.
ACCESS_POLICY_NAMES = sorted(
    [
        "AmazonAIOpsAssistantPolicy",
        "AmazonARCRegionSwitchScalingPolicy",
        "AmazonEKSAdminPolicy",
        "AmazonEKSAdminViewPolicy",
        "AmazonEKSAutoNodePolicy",
        "AmazonEKSBlockStorageClusterPolicy",
        "AmazonEKSBlockStoragePolicy",
        "AmazonEKSClusterAdminPolicy",
        "AmazonEKSClusterInsightsPolicy",
        "AmazonEKSComputeClusterPolicy",
        "AmazonEKSComputePolicy",
        "AmazonEKSEditPolicy",
        "AmazonEKSHybridPolicy",
        "AmazonEKSLoadBalancingClusterPolicy",
        "AmazonEKSLoadBalancingPolicy",
        "AmazonEKSNetworkingClusterPolicy",
        "AmazonEKSNetworkingPolicy",
        "AmazonEKSSecretReaderPolicy",
        "AmazonEKSViewPolicy",
    ]
)
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"

# [model] CreateAccessEntryRequest.type: the valid values, case-sensitive
# ("Standard" is refused: aws/aws-cdk#31146). STANDARD is the default.
ACCESS_ENTRY_TYPES = [
    "STANDARD",
    "FARGATE_LINUX",
    "EC2_LINUX",
    "EC2_WINDOWS",
    "EC2",
    "HYBRID_LINUX",
    "HYPERPOD_LINUX",
]
# [ug-assoc]: access policies go to entries of type STANDARD; [model] type:
# EC2_LINUX / EC2_WINDOWS entries can't have one. EKS Auto Mode's EC2 entries
# take AmazonEKSAutoNodePolicy (eksctl-io/eksctl#8098,
# terraform-aws-modules/terraform-aws-eks#3274).
POLICY_ENTRY_TYPES = {"STANDARD", "EC2"}
# [ug-create]: a username "can't start with system:, eks:, aws:, amazon:, or iam:".
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")

CONFIG_MAP_ONLY_MSG = (
    # Quoted in terraform-aws-modules/terraform-aws-eks#3048 (InvalidRequestException).
    "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
    "to perform this operation."
)
ENTRY_NOT_FOUND_MSG = (
    # Quoted in terraform-aws-modules/terraform-aws-eks#3024 (AssociateAccessPolicy, 404).
    "The specified principalArn could not be found. You can view your available "
    "access entries with 'list-access-entries'."
)
ENTRY_IN_USE_MSG = (
    # Quoted in terraform-aws-modules/terraform-aws-eks#2968 and #3293 (409).
    "The specified access entry resource is already in use on this cluster."
)
# Quoted in aws-samples/appmod-blueprints#319: an sts assumed-role ARN.
PRINCIPAL_FORMAT_MSG = "The principalArn parameter format is not valid"
# Quoted in terraform-aws-modules/terraform-aws-eks#2969: a role ARN missing its
# path, i.e. naming no existing role.
INVALID_PRINCIPAL_MSG = "The specified principalArn is invalid: invalid principal."
# Quoted in aws-controllers-k8s/community#2144: ListAssociatedAccessPolicies
# (the controller's read) on an EC2_LINUX entry.
STANDARD_ONLY_MSG = (
    'This operation can only be performed on Access Entries with a type of "STANDARD".'
)

_PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>iam|sts)::(?P<account>[0-9]{12}):"
    r"(?P<kind>role|user|assumed-role|federated-user)/(?P<path>.+)$"
)


def access_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


class FakeAccessEntry:
    def __init__(
        self,
        cluster: eks_models.Cluster,
        principal_arn: str,
        entry_type: str,
        kubernetes_groups: list[str],
        username: str | None,
        tags: dict[str, str] | None,
        client_request_token: str | None,
        region_name: str,
        partition: str,
    ):
        principal = _PRINCIPAL_ARN.match(principal_arn)
        assert principal is not None  # validated by the caller
        kind, name = principal.group("kind"), principal.group("path").split("/")[-1]
        self.cluster_name = cluster.name
        self.principal_arn = principal_arn
        self.type = entry_type
        self.kubernetes_groups = list(kubernetes_groups)
        self.username = username or _default_username(principal_arn, entry_type)
        self.tags = dict(tags or {})
        self.client_request_token = client_request_token
        self.created_at = utcnow()
        self.modified_at = self.created_at
        # The form real entries have, e.g. (terraform-aws-modules/terraform-aws-eks#3293,
        # aws-controllers-k8s/community#2144):
        # arn:aws:eks:<region>:<cluster account>:access-entry/<cluster>/role/<principal
        # account>/<role name>/<uuid>
        cluster_account = cluster.arn.split(":")[4]
        self.access_entry_arn = (
            f"arn:{partition}:eks:{region_name}:{cluster_account}:access-entry/"
            f"{cluster.name}/{kind}/{principal.group('account')}/{name}/{random.uuid4()}"
        )
        # policy ARN -> {policyArn, accessScope, associatedAt, modifiedAt}
        self.policies: dict[str, dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "clusterName": self.cluster_name,
            "principalArn": self.principal_arn,
            "kubernetesGroups": self.kubernetes_groups,
            "accessEntryArn": self.access_entry_arn,
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
            "tags": self.tags,
            "username": self.username,
            "type": self.type,
        }


def _default_username(principal_arn: str, entry_type: str) -> str:
    """The username EKS sets when none is given ([ug-create], the table)."""
    if entry_type in ("EC2_LINUX", "EC2_WINDOWS", "EC2"):
        # EC2 (Auto Mode) is not in the table: assumed like the other EC2 types.
        return "system:node:{{EC2PrivateDNSName}}"
    if entry_type != "STANDARD":
        # FARGATE_LINUX and HYBRID_LINUX per the table; HYPERPOD_LINUX assumed alike.
        return "system:node:{{SessionName}}"
    principal = _PRINCIPAL_ARN.match(principal_arn)
    assert principal is not None
    if principal.group("kind") == "user":
        return principal_arn
    # "The STS ARN of the role when it's assumed ... If the ARN of the role that
    # you specified contained a path, Amazon EKS removes it."
    role_name = principal.group("path").split("/")[-1]
    return (
        f"arn:{principal.group('partition')}:sts::{principal.group('account')}:"
        f"assumed-role/{role_name}/{{{{SessionName}}}}"
    )


def _access_entries(cluster: eks_models.Cluster) -> dict[str, FakeAccessEntry]:
    if not hasattr(cluster, "stackplan_access_entries"):
        cluster.stackplan_access_entries = {}
    return cluster.stackplan_access_entries


def _access_cluster(backend: EKSBackend, name: str) -> eks_models.Cluster:
    """The cluster, if access entries can be used on it.

    [ug-mode]: "To begin using access entries, you must change the
    authentication mode of the cluster to either the API_AND_CONFIG_MAP or
    API modes."
    """
    cluster = _cluster_or_404(backend, name)
    mode = (getattr(cluster, "access_config", None) or {}).get("authenticationMode", "CONFIG_MAP")
    if mode not in ("API", "API_AND_CONFIG_MAP"):
        raise InvalidRequestException(message=CONFIG_MAP_ONLY_MSG)
    return cluster


def _entry_or_404(cluster: eks_models.Cluster, principal_arn: str) -> FakeAccessEntry:
    entry = _access_entries(cluster).get(principal_arn)
    if entry is None:
        raise ResourceNotFoundException(
            clusterName=cluster.name,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=None,
            message=ENTRY_NOT_FOUND_MSG,
        )
    return entry


def _policy_entry(entry: FakeAccessEntry) -> FakeAccessEntry:
    """[ug-assoc], [model] type: access policies only on STANDARD (and EC2) entries."""
    if entry.type not in POLICY_ENTRY_TYPES:
        raise _invalid(STANDARD_ONLY_MSG, clusterName=entry.cluster_name)
    return entry


def _check_groups(groups: Any, cluster_name: str) -> list[str]:
    if groups is None:
        return []
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise _invalid(
            "kubernetesGroups must be a list of non-empty strings", clusterName=cluster_name
        )
    for group in groups:
        # Quoted in terraform-aws-modules/terraform-aws-eks#2915 and
        # eksctl-io/eksctl#7446 (InvalidParameterException); the user guide
        # source has the same rule (awsdocs/amazon-eks-user-guide#985).
        if group.startswith("system:"):
            raise _invalid(
                f"The kubernetes group name {group} is invalid, it cannot start with system:",
                clusterName=cluster_name,
            )
    return list(groups)


def _check_username(username: Any, cluster_name: str) -> str | None:
    """[ug-create]: the rules for a username of one's own."""
    if username is None:
        return None
    if not isinstance(username, str) or not username:
        # message not confirmed
        raise _invalid("username must be a non-empty string", clusterName=cluster_name)
    for prefix in RESERVED_USERNAME_PREFIXES:
        if username.startswith(prefix):
            # message not confirmed
            raise _invalid(
                f"The username {username} is invalid, it cannot start with {prefix}",
                clusterName=cluster_name,
            )
    # "If you add either {{SessionName}} or {{SessionNameRaw}} to your
    # username, the username must include a colon before {{SessionName}}."
    for marker in ("{{SessionName}}", "{{SessionNameRaw}}"):
        at = username.find(marker)
        if at >= 0 and ":" not in username[:at]:
            # message not confirmed
            raise _invalid(
                f"The username {username} is invalid, it must include a colon before {marker}",
                clusterName=cluster_name,
            )
    return username


def _caller_principal(response: EKSResponse) -> str:
    """The IAM principal behind the request's credentials.

    moto's STS answers GetCallerIdentity with `arn:aws:sts::<account>:user/moto`
    for credentials it did not issue (the tests' "testing" keys); that user's
    IAM ARN is `arn:aws:iam::<account>:user/moto`. For an assumed role the
    principal is the role, not its session ([model] principalArn: no STS
    session principals).
    """
    sts = sts_backends[response.current_account][response.partition]
    access_key = response.get_access_key()
    assumed = sts.get_assumed_role_from_access_key(access_key)
    if assumed is not None:
        return assumed.role_arn
    _, arn, _ = sts.get_caller_identity(access_key, response.region)
    return re.sub(r"^arn:([^:]+):sts::([0-9]{12}):user/", r"arn:\1:iam::\2:user/", arn)


def _principal_exists(backend: EKSBackend, principal_arn: str, caller: str | None) -> bool:
    if principal_arn == caller:
        return True  # it signed this very request
    principal = _PRINCIPAL_ARN.match(principal_arn)
    assert principal is not None
    iam = iam_backends[principal.group("account")][principal.group("partition")]
    if principal.group("kind") == "role":
        return any(role.arn == principal_arn for role in iam.get_roles())
    return any(user.arn == principal_arn for user in iam.users.values())


def _check_principal(
    backend: EKSBackend, principal_arn: Any, entry_type: str, cluster_name: str, caller: str | None
) -> str:
    """[model] principalArn and [ug-create] on the ARN."""
    principal = _PRINCIPAL_ARN.match(principal_arn) if isinstance(principal_arn, str) else None
    # "You can't use the STS session principal type with access entries"
    # ([model]); groups, root and anything else are no principal ARN either.
    if (
        principal is None
        or principal.group("service") != "iam"
        or principal.group("kind") not in ("role", "user")
    ):
        raise _invalid(PRINCIPAL_FORMAT_MSG, clusterName=cluster_name)
    if principal.group("partition") != backend.partition:
        raise _invalid(INVALID_PRINCIPAL_MSG, clusterName=cluster_name)
    kind, path = principal.group("kind"), principal.group("path")
    if kind == "role" and path.startswith("aws-service-role/"):
        # [ug-create]: "You cannot create access entries where the principal
        # ARN is a service linked role." (message not confirmed)
        raise _invalid(INVALID_PRINCIPAL_MSG, clusterName=cluster_name)
    if entry_type != "STANDARD":
        # [model]: "For nodes (EC2, EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX, and
        # HYBRID_LINUX), the only valid ARN is IAM roles"; [ug-create]: "If the
        # type of the access entry is anything other than STANDARD ..., the ARN
        # must be in the same AWS account that your cluster is in."
        # (message not confirmed)
        if kind != "role" or principal.group("account") != backend.account_id:
            raise _invalid(INVALID_PRINCIPAL_MSG, clusterName=cluster_name)
    # [ug-create]: "An access entry includes the ARN of one, and only one,
    # existing IAM principal"; AWS refuses an ARN naming no principal with
    # this message (terraform-aws-modules/terraform-aws-eks#2969).
    if not _principal_exists(backend, principal_arn, caller):
        raise _invalid(INVALID_PRINCIPAL_MSG, clusterName=cluster_name)
    return principal_arn


def _check_scope(scope: Any, cluster_name: str) -> dict[str, Any]:
    """[model] AccessScope: type cluster|namespace; namespaces "is required if
    you specified namespace". A cluster scope with namespaces is refused too.
    (messages not confirmed)"""
    if not isinstance(scope, dict):
        raise _invalid("accessScope is required", clusterName=cluster_name)
    kind = scope.get("type")
    namespaces = scope.get("namespaces") or []
    if kind not in ("cluster", "namespace"):
        raise _invalid(
            f"Invalid access scope type {kind}. Valid values are [cluster, namespace]",
            clusterName=cluster_name,
        )
    if not isinstance(namespaces, list) or not all(isinstance(n, str) and n for n in namespaces):
        raise _invalid("accessScope namespaces must be non-empty strings", clusterName=cluster_name)
    if kind == "namespace" and not namespaces:
        raise _invalid(
            "At least one namespace must be specified for an access scope of type namespace",
            clusterName=cluster_name,
        )
    if kind == "cluster" and namespaces:
        raise _invalid(
            "Namespaces can't be specified for an access scope of type cluster",
            clusterName=cluster_name,
        )
    return {"type": kind, "namespaces": list(namespaces)}


def _check_max_results(max_results: Any, cluster_name: str | None = None) -> Any:
    # [model] List*RequestMaxResults: 1..100. (message not confirmed)
    if max_results is not None and not 1 <= int(max_results) <= 100:
        raise _invalid("maxResults must be between 1 and 100", clusterName=cluster_name)
    return max_results


def _associate(entry: FakeAccessEntry, policy_arn: str, scope: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    association = entry.policies.get(policy_arn)
    if association is None:
        association = {"policyArn": policy_arn, "associatedAt": now}
        entry.policies[policy_arn] = association
    # [ug-assoc]: "You can change the access scope for an access policy after
    # you associate it ... run the previous command again with the new scope."
    association["accessScope"] = scope
    association["modifiedAt"] = now
    return association


def _bootstrap_creator_entry(response: EKSResponse, cluster: eks_models.Cluster) -> None:
    """The admin entry EKS makes for whoever created the cluster.

    [model] CreateAccessConfigRequest.bootstrapClusterCreatorAdminPermissions:
    "whether or not the cluster creator IAM principal was set as a cluster
    admin access entry during cluster creation time". [ug-legacy]: EKS
    "creates an access entry with administrator permissions to the cluster
    for the IAM principal that originally created the cluster", and a cluster
    that only had the aws-auth ConfigMap shows it once access entries are
    enabled (which is why `terraform-aws-eks` users moving from CONFIG_MAP
    hit ResourceInUseException on the creator's entry:
    terraform-aws-modules/terraform-aws-eks#2911). So the entry is made here
    whatever the mode; in CONFIG_MAP mode the access-entry API refuses to
    show it until UpdateClusterConfig enables the API.
    """
    backend = response.eks_backend
    creator = _caller_principal(response)
    if not _PRINCIPAL_ARN.match(creator):
        return
    entry = FakeAccessEntry(
        cluster, creator, "STANDARD", [], None, None, None, backend.region_name, backend.partition
    )
    _associate(
        entry,
        access_policy_arn(backend.partition, CLUSTER_ADMIN_POLICY),
        {"type": "cluster", "namespaces": []},
    )
    _access_entries(cluster)[creator] = entry


# Backend methods.


def create_access_entry(
    self: EKSBackend,
    cluster_name: str,
    principal_arn: Any,
    kubernetes_groups: Any,
    tags: dict[str, str] | None,
    client_request_token: str | None,
    username: Any,
    entry_type: Any,
    caller: str | None,
) -> dict[str, Any]:
    cluster = _access_cluster(self, cluster_name)
    entry_type = "STANDARD" if entry_type is None else entry_type
    if entry_type not in ACCESS_ENTRY_TYPES:
        # message not confirmed (CloudFormation's is quoted in aws/aws-cdk#31146)
        raise _invalid(
            f"AccessEntry type must be one of [{', '.join(ACCESS_ENTRY_TYPES)}]",
            clusterName=cluster_name,
        )
    existing = (
        _access_entries(cluster).get(principal_arn) if isinstance(principal_arn, str) else None
    )
    if existing is not None:
        if client_request_token and existing.client_request_token == client_request_token:
            return existing.to_dict()  # a retry of the same request: idempotent
        raise ResourceInUseException(
            clusterName=cluster_name, nodegroupName=None, addonName=None, message=ENTRY_IN_USE_MSG
        )
    _check_principal(self, principal_arn, entry_type, cluster_name, caller)
    if entry_type != "STANDARD":
        # [ug-create] CLI: "You can't use the --kubernetes-groups option when
        # you specify a type other than STANDARD"; a username is for STANDARD
        # entries ("If the type of the access entry is STANDARD, you can
        # specify a username"). (messages not confirmed)
        if kubernetes_groups:
            raise _invalid(
                "kubernetesGroups can only be specified for access entries of type STANDARD",
                clusterName=cluster_name,
            )
        if username is not None:
            raise _invalid(
                "username can only be specified for access entries of type STANDARD",
                clusterName=cluster_name,
            )
    groups = _check_groups(kubernetes_groups, cluster_name)
    username = _check_username(username, cluster_name)
    entry = FakeAccessEntry(
        cluster,
        principal_arn,
        entry_type,
        groups,
        username,
        tags,
        client_request_token,
        self.region_name,
        self.partition,
    )
    _access_entries(cluster)[principal_arn] = entry
    return entry.to_dict()


def describe_access_entry(
    self: EKSBackend, cluster_name: str, principal_arn: str
) -> dict[str, Any]:
    return _entry_or_404(_access_cluster(self, cluster_name), principal_arn).to_dict()


def update_access_entry(
    self: EKSBackend,
    cluster_name: str,
    principal_arn: str,
    kubernetes_groups: Any,
    username: Any,
) -> dict[str, Any]:
    cluster = _access_cluster(self, cluster_name)
    entry = _entry_or_404(cluster, principal_arn)
    if entry.type != "STANDARD" and (kubernetes_groups or username is not None):
        # Groups and a username are STANDARD-only ([ug-create]); the message is
        # the one EKS gives for STANDARD-only operations.
        raise _invalid(STANDARD_ONLY_MSG, clusterName=cluster_name)
    if kubernetes_groups is not None:
        entry.kubernetes_groups = _check_groups(kubernetes_groups, cluster_name)
    if username is not None:
        # [ug-create]: "You can change the username after the access entry is created."
        entry.username = _check_username(username, cluster_name)
    entry.modified_at = utcnow()
    return entry.to_dict()


def delete_access_entry(self: EKSBackend, cluster_name: str, principal_arn: str) -> None:
    cluster = _access_cluster(self, cluster_name)
    _entry_or_404(cluster, principal_arn)
    # The entry's policy associations go with it.
    del _access_entries(cluster)[principal_arn]


def list_access_entries(
    self: EKSBackend,
    cluster_name: str,
    associated_policy_arn: str | None,
    max_results: Any,
    next_token: Any,
) -> tuple[list[str], str | None]:
    cluster = _access_cluster(self, cluster_name)
    _check_max_results(max_results, cluster_name)
    arns = sorted(
        arn
        for arn, entry in _access_entries(cluster).items()
        if not associated_policy_arn or associated_policy_arn in entry.policies
    )
    return paginate(arns, max_results, next_token)


def associate_access_policy(
    self: EKSBackend,
    cluster_name: str,
    principal_arn: str,
    policy_arn: Any,
    access_scope: Any,
) -> dict[str, Any]:
    cluster = _access_cluster(self, cluster_name)
    entry = _policy_entry(_entry_or_404(cluster, principal_arn))
    catalogue = {access_policy_arn(self.partition, n) for n in ACCESS_POLICY_NAMES}
    if policy_arn not in catalogue:
        # [model] policyArn: "For a list of ARNs, use ListAccessPolicies";
        # [ug-ref]: "You can't create your own access policies."
        # (message not confirmed)
        raise _invalid(
            f"The specified policyArn {policy_arn} is not a valid access policy. You can "
            "view the available access policies with 'list-access-policies'.",
            clusterName=cluster_name,
        )
    scope = _check_scope(access_scope, cluster_name)
    association = _associate(entry, policy_arn, scope)
    return {
        "clusterName": cluster.name,
        "principalArn": principal_arn,
        "associatedAccessPolicy": association,
    }


def disassociate_access_policy(
    self: EKSBackend, cluster_name: str, principal_arn: str, policy_arn: str
) -> None:
    cluster = _access_cluster(self, cluster_name)
    entry = _policy_entry(_entry_or_404(cluster, principal_arn))
    if policy_arn not in entry.policies:
        raise ResourceNotFoundException(
            clusterName=cluster_name,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=None,
            # message not confirmed
            message=(
                f"The specified policyArn {policy_arn} is not associated with the access entry."
            ),
        )
    del entry.policies[policy_arn]
    entry.modified_at = utcnow()


def list_associated_access_policies(
    self: EKSBackend, cluster_name: str, principal_arn: str, max_results: Any, next_token: Any
) -> tuple[list[dict[str, Any]], str | None]:
    cluster = _access_cluster(self, cluster_name)
    entry = _policy_entry(_entry_or_404(cluster, principal_arn))
    _check_max_results(max_results, cluster_name)
    policies = [entry.policies[arn] for arn in sorted(entry.policies)]
    return paginate(policies, max_results, next_token)


def list_access_policies(
    self: EKSBackend, max_results: Any, next_token: Any
) -> tuple[list[dict[str, str]], str | None]:
    _check_max_results(max_results)
    policies = [
        {"name": name, "arn": access_policy_arn(self.partition, name)}
        for name in ACCESS_POLICY_NAMES
    ]
    return paginate(policies, max_results, next_token)


# Tags: moto's TagResource, UntagResource and ListTagsForResource find
# clusters only; EKS tags access entries and add-ons by their ARN too.

_orig_tag_resource = EKSBackend.tag_resource
_orig_untag_resource = EKSBackend.untag_resource
_orig_list_tags_for_resource = EKSBackend.list_tags_for_resource


def _tagged(backend: EKSBackend, arn: str) -> Any:
    for cluster in backend.clusters.values():
        for entry in _access_entries(cluster).values():
            if entry.access_entry_arn == arn:
                return entry
        for addon in _addons(cluster).values():
            if addon.addon_arn == arn:
                return addon
    return None


def tag_resource(self: EKSBackend, resource_arn: str, tags: dict[str, str]) -> None:
    found = _tagged(self, resource_arn)
    if found is None:
        return _orig_tag_resource(self, resource_arn, tags)
    found.tags.update(tags or {})


def untag_resource(self: EKSBackend, resource_arn: str, tag_keys: list[str]) -> None:
    found = _tagged(self, resource_arn)
    if found is None:
        return _orig_untag_resource(self, resource_arn, tag_keys)
    for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
        found.tags.pop(key, None)


def list_tags_for_resource(self: EKSBackend, resource_arn: str) -> dict[str, str]:
    found = _tagged(self, resource_arn)
    if found is None:
        return _orig_list_tags_for_resource(self, resource_arn)
    return found.tags


# Response handlers. The principal and policy ARNs arrive percent-encoded in
# the path (`arn%3Aaws%3Aiam%3A%3A...%3Arole%2Fname`); moto's router matches
# the raw path against the model's URI and hands `_get_param` the labels
# percent-decoded.


def _r_create_access_entry(self: EKSResponse) -> ActionResult:
    entry = self.eks_backend.create_access_entry(
        cluster_name=self._get_param("name"),
        principal_arn=self._get_param("principalArn"),
        kubernetes_groups=self._get_param("kubernetesGroups"),
        tags=self._get_param("tags"),
        client_request_token=self._get_param("clientRequestToken"),
        username=self._get_param("username"),
        entry_type=self._get_param("type"),
        caller=_caller_principal(self),
    )
    return ActionResult({"accessEntry": entry})


def _r_describe_access_entry(self: EKSResponse) -> ActionResult:
    entry = self.eks_backend.describe_access_entry(
        self._get_param("name"), self._get_param("principalArn")
    )
    return ActionResult({"accessEntry": entry})


def _r_update_access_entry(self: EKSResponse) -> ActionResult:
    entry = self.eks_backend.update_access_entry(
        cluster_name=self._get_param("name"),
        principal_arn=self._get_param("principalArn"),
        kubernetes_groups=self._get_param("kubernetesGroups"),
        username=self._get_param("username"),
    )
    return ActionResult({"accessEntry": entry})


def _r_delete_access_entry(self: EKSResponse) -> ActionResult:
    self.eks_backend.delete_access_entry(self._get_param("name"), self._get_param("principalArn"))
    return EmptyResult()


def _r_list_access_entries(self: EKSResponse) -> ActionResult:
    arns, token = self.eks_backend.list_access_entries(
        cluster_name=self._get_param("name"),
        associated_policy_arn=self._get_param("associatedPolicyArn"),
        max_results=self._get_param("maxResults"),
        next_token=self._get_param("nextToken"),
    )
    return ActionResult({"accessEntries": arns, "nextToken": token})


def _r_associate_access_policy(self: EKSResponse) -> ActionResult:
    return ActionResult(
        self.eks_backend.associate_access_policy(
            cluster_name=self._get_param("name"),
            principal_arn=self._get_param("principalArn"),
            policy_arn=self._get_param("policyArn"),
            access_scope=self._get_param("accessScope"),
        )
    )


def _r_disassociate_access_policy(self: EKSResponse) -> ActionResult:
    self.eks_backend.disassociate_access_policy(
        self._get_param("name"), self._get_param("principalArn"), self._get_param("policyArn")
    )
    return EmptyResult()


def _r_list_associated_access_policies(self: EKSResponse) -> ActionResult:
    name, principal_arn = self._get_param("name"), self._get_param("principalArn")
    policies, token = self.eks_backend.list_associated_access_policies(
        name, principal_arn, self._get_param("maxResults"), self._get_param("nextToken")
    )
    return ActionResult(
        {
            "clusterName": name,
            "principalArn": principal_arn,
            "associatedAccessPolicies": policies,
            "nextToken": token,
        }
    )


def _r_list_access_policies(self: EKSResponse) -> ActionResult:
    policies, token = self.eks_backend.list_access_policies(
        self._get_param("maxResults"), self._get_param("nextToken")
    )
    return ActionResult({"accessPolicies": policies, "nextToken": token})


def _r_untag_resource(self: EKSResponse) -> ActionResult:
    """Every `tagKeys` of the query string (moto's `_get_param` keeps the first)."""
    self.eks_backend.untag_resource(
        self._extract_arn_from_path(), self.querystring.get("tagKeys") or []
    )
    return EmptyResult()


def install() -> None:
    """Registers the routes, backend methods and response handlers."""
    moto_api_urls.url_paths["{0}/moto-api/stackplan/eks/publish-ami-release"] = publish_ami_release
    eks_urls.url_paths.update(
        {
            "{0}/clusters/(?P<name>[^/]+)/addons$": EKSResponse.dispatch,
            "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$": EKSResponse.dispatch,
            "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$": EKSResponse.dispatch,
            "{0}/addons/supported-versions$": EKSResponse.dispatch,
            "{0}/clusters/(?P<name>[^/]+)/updates$": EKSResponse.dispatch,
            "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$": EKSResponse.dispatch,
            "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$": EKSResponse.dispatch,
            # The server matches the decoded path, where a principal ARN has
            # its `/`s back: everything after access-entries/ is one route;
            # moto's router then picks the operation from the raw path.
            "{0}/clusters/(?P<name>[^/]+)/access-entries$": EKSResponse.dispatch,
            "{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$": EKSResponse.dispatch,
            "{0}/access-policies$": EKSResponse.dispatch,
        }
    )
    EKSBackend.create_cluster = create_cluster
    EKSBackend.delete_cluster = delete_cluster
    EKSBackend.create_nodegroup = create_nodegroup
    EKSBackend.list_nodegroups = list_nodegroups
    EKSBackend.create_addon = create_addon
    EKSBackend.describe_addon = describe_addon
    EKSBackend.update_addon = update_addon
    EKSBackend.delete_addon = delete_addon
    EKSBackend.list_addons = list_addons
    EKSBackend.describe_addon_versions = describe_addon_versions
    EKSBackend.update_cluster_version = update_cluster_version
    EKSBackend.update_nodegroup_version = update_nodegroup_version
    EKSBackend.describe_update = describe_update
    EKSBackend.list_updates = list_updates

    EKSResponse.create_addon = _r_create_addon
    EKSResponse.describe_addon = _r_describe_addon
    EKSResponse.update_addon = _r_update_addon
    EKSResponse.delete_addon = _r_delete_addon
    EKSResponse.list_addons = _r_list_addons
    EKSResponse.describe_addon_versions = _r_describe_addon_versions
    EKSResponse.update_cluster_version = _r_update_cluster_version
    EKSResponse.update_nodegroup_version = _r_update_nodegroup_version
    EKSResponse.describe_update = _r_describe_update
    EKSResponse.list_updates = _r_list_updates
    EKSResponse.update_cluster_config = _r_update_cluster_config
    EKSResponse.create_cluster = _r_create_cluster
    EKSResponse.update_nodegroup_config = _r_update_nodegroup_config
    EKSResponse.create_nodegroup = _r_create_nodegroup

    EKSBackend.create_access_entry = create_access_entry
    EKSBackend.describe_access_entry = describe_access_entry
    EKSBackend.update_access_entry = update_access_entry
    EKSBackend.delete_access_entry = delete_access_entry
    EKSBackend.list_access_entries = list_access_entries
    EKSBackend.associate_access_policy = associate_access_policy
    EKSBackend.disassociate_access_policy = disassociate_access_policy
    EKSBackend.list_associated_access_policies = list_associated_access_policies
    EKSBackend.list_access_policies = list_access_policies
    EKSBackend.tag_resource = tag_resource
    EKSBackend.untag_resource = untag_resource
    EKSBackend.list_tags_for_resource = list_tags_for_resource

    EKSResponse.create_access_entry = _r_create_access_entry
    EKSResponse.describe_access_entry = _r_describe_access_entry
    EKSResponse.update_access_entry = _r_update_access_entry
    EKSResponse.delete_access_entry = _r_delete_access_entry
    EKSResponse.list_access_entries = _r_list_access_entries
    EKSResponse.associate_access_policy = _r_associate_access_policy
    EKSResponse.disassociate_access_policy = _r_disassociate_access_policy
    EKSResponse.list_associated_access_policies = _r_list_associated_access_policies
    EKSResponse.list_access_policies = _r_list_access_policies
    EKSResponse.untag_resource = _r_untag_resource
