"""Amazon MSK operations moto lacks, and fixes to the ones it has.

Shapes follow the Amazon MSK API reference (restJson1, camelCase wire
names, `__timestampIso8601` timestamps, `__blob` server properties sent as
base64). Like moto's own Kafka responses, handlers answer JSON strings.

Added operations: CreateConfiguration, DescribeConfiguration,
DescribeConfigurationRevision, ListConfigurations, ListConfigurationRevisions,
UpdateConfiguration, DeleteConfiguration, BatchAssociateScramSecret,
BatchDisassociateScramSecret, ListScramSecrets, GetBootstrapBrokers,
UpdateBrokerCount, UpdateBrokerType, UpdateBrokerStorage,
UpdateClusterConfiguration, UpdateClusterKafkaVersion, UpdateSecurity,
DescribeClusterOperation, ListClusterOperations, GetCompatibleKafkaVersions.
AWS's rules enforced: broker storage only grows, six hours apart; brokers
are only added (removal needs partitions moved off first); the broker type
paths MSK documents; a Kafka version upgrade only to a compatible version,
with a configuration that lists it; configurations deleted asynchronously,
never while a cluster uses one.
Changed: CreateCluster (validation of broker count, configuration and SCRAM
prerequisites; ARN with the cluster name; opaque currentVersion; timestamps
with a zone), DescribeCluster/DescribeClusterV2 (CREATING/UPDATING becomes
ACTIVE on the next read; 404 for unknown ARNs), DeleteCluster (404; DELETING).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import string
from typing import Any

from moto.ec2.models import ec2_backends
from moto.kafka import urls as kafka_urls
from moto.kafka.models import FakeKafkaCluster, KafkaBackend, kafka_backends
from moto.kafka.responses import KafkaResponse
from moto.moto_api._internal import mock_random as random
from moto.moto_api._internal import urls as moto_api_urls
from moto.secretsmanager.models import secretsmanager_backends

from .common import RestJsonError, iso8601, paginate, path_label_after, random_id, utcnow


def not_found(message: str) -> RestJsonError:
    return RestJsonError("NotFoundException", message, 404)


def bad_request(message: str) -> RestJsonError:
    return RestJsonError("BadRequestException", message, 400)


def conflict(message: str) -> RestJsonError:
    return RestJsonError("ConflictException", message, 409)


# --- Clusters: fixes to moto's model ---------------------------------------

_orig_cluster_init = FakeKafkaCluster.__init__


def _cluster_init(self: FakeKafkaCluster, *args: Any, **kwargs: Any) -> None:
    _orig_cluster_init(self, *args, **kwargs)
    # MSK's currentVersion is an opaque token that changes with every update
    # and must be echoed back by update calls; moto fixes it at "1.0".
    self.current_version = random_id(14, string.ascii_uppercase + string.digits)
    self.creation_time = iso8601(utcnow())
    self.scram_secrets: list[str] = []
    self.broker_dns_suffix = f"{random_id(6)}.c{random.randint(1, 9)}"


def _generate_arn(self: FakeKafkaCluster) -> str:
    # arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID-N, as MSK writes it.
    kind = "cluster" if self.cluster_type == "PROVISIONED" else "serverless-cluster"
    partition = "aws-cn" if self.region_name.startswith("cn-") else "aws"
    return (
        f"arn:{partition}:kafka:{self.region_name}:{self.account_id}:{kind}/"
        f"{self.cluster_name}/{self.cluster_id}-{random.randint(1, 25)}"
    )


def _cluster(backend: KafkaBackend, arn: str) -> FakeKafkaCluster:
    cluster = backend.clusters.get(arn)
    if cluster is None:
        raise not_found(f"Cluster {arn} does not exist.")
    return cluster


def _settle(cluster: FakeKafkaCluster) -> None:
    """AWS moves a cluster to ACTIVE minutes after a create or update; here
    the next read does, so callers' waiters see one transition."""
    if cluster.state in ("CREATING", "UPDATING"):
        cluster.state = "ACTIVE"


_orig_create_cluster = KafkaBackend.create_cluster
_orig_describe_cluster = KafkaBackend.describe_cluster
_orig_describe_cluster_v2 = KafkaBackend.describe_cluster_v2
_orig_delete_cluster = KafkaBackend.delete_cluster


def create_cluster(self: KafkaBackend, **kwargs: Any) -> tuple[str, str, str]:
    name = kwargs.get("cluster_name")
    if any(c.cluster_name == name for c in self.clusters.values()):
        raise conflict(f"A cluster with the name {name} already exists.")
    info = kwargs.get("broker_node_group_info") or {}
    subnets = info.get("clientSubnets") or []
    brokers = int(kwargs.get("number_of_broker_nodes") or 0)
    _check_client_subnets(self, subnets)
    if brokers < 1 or brokers % len(subnets):
        raise bad_request(
            "The number of broker nodes must be a multiple of Availability Zones in the "
            "Client Subnets parameter."
        )
    configuration = kwargs.get("configuration_info")
    if configuration:
        _check_configuration_use(self, configuration, kwargs.get("kafka_version") or "")
    auth = kwargs.get("client_authentication") or {}
    in_transit = (kwargs.get("encryption_info") or {}).get("encryptionInTransit") or {}
    if _scram_enabled(auth) and in_transit.get("clientBroker", "TLS") == "PLAINTEXT":
        raise bad_request(
            "SASL/SCRAM authentication requires TLS encryption between clients and brokers."
        )
    return _orig_create_cluster(self, **kwargs)


def _check_client_subnets(backend: KafkaBackend, subnets: list[str]) -> None:
    """MSK standard brokers: exactly two client subnets in US West (N.
    California), two or three elsewhere, each in a distinct Availability
    Zone (MSK developer guide, "Create an MSK Provisioned cluster"); none in
    zone use1-az3 (botocore kafka model, BrokerNodeGroupInfo.ClientSubnets)."""
    allowed = (2,) if backend.region_name == "us-west-1" else (2, 3)
    if len(subnets) not in allowed:
        raise bad_request(
            f"Specify {' or '.join(map(str, allowed))} client subnets in different "
            f"Availability Zones; {len(subnets)} were given."
        )
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    zones = []
    for subnet_id in subnets:
        try:
            subnet = ec2.get_subnet(subnet_id)
        except Exception:
            raise bad_request(f"The subnet {subnet_id} does not exist.") from None
        if getattr(subnet, "availability_zone_id", None) == "use1-az3":
            raise bad_request(
                f"Client subnets can't occupy the Availability Zone with ID use1-az3 "
                f"({subnet_id})."
            )
        zones.append(subnet.availability_zone)
    if len(set(zones)) != len(zones):
        raise bad_request(
            "The client subnets must be in distinct Availability Zones: "
            + ", ".join(f"{s} in {z}" for s, z in zip(subnets, zones))
        )


def describe_cluster(self: KafkaBackend, cluster_arn: str) -> dict[str, Any]:
    cluster = _cluster(self, cluster_arn)
    _settle(cluster)
    return _orig_describe_cluster(self, cluster_arn)


def describe_cluster_v2(self: KafkaBackend, cluster_arn: str) -> dict[str, Any]:
    cluster = _cluster(self, cluster_arn)
    _settle(cluster)
    return _orig_describe_cluster_v2(self, cluster_arn)


def delete_cluster(self: KafkaBackend, cluster_arn: str, current_version: str) -> tuple[str, str]:
    cluster = _cluster(self, cluster_arn)
    if current_version and current_version != cluster.current_version:
        raise bad_request(
            "The provided current version doesn't match the cluster's current version."
        )
    _orig_delete_cluster(self, cluster_arn, current_version)
    return cluster_arn, "DELETING"


def _scram_enabled(auth: dict[str, Any] | None) -> bool:
    return bool((((auth or {}).get("sasl") or {}).get("scram") or {}).get("enabled"))


def _iam_enabled(auth: dict[str, Any] | None) -> bool:
    return bool((((auth or {}).get("sasl") or {}).get("iam") or {}).get("enabled"))


# --- Configurations -------------------------------------------------------


class FakeConfiguration:
    def __init__(
        self,
        account_id: str,
        region_name: str,
        name: str,
        description: str,
        kafka_versions: list[str],
    ):
        self.name = name
        self.description = description or ""
        self.kafka_versions = kafka_versions or []
        self.state = "ACTIVE"
        self.creation_time = utcnow()
        self.arn = (
            f"arn:aws:kafka:{region_name}:{account_id}:configuration/{name}/"
            f"{random.uuid4()}-{random.randint(1, 25)}"
        )
        self.revisions: list[dict[str, Any]] = []

    def add_revision(self, description: str, server_properties: bytes) -> dict[str, Any]:
        revision = {
            "revision": len(self.revisions) + 1,
            "creationTime": utcnow(),
            "description": description or "",
            "serverProperties": server_properties,
        }
        self.revisions.append(revision)
        return revision

    def revision_summary(self, revision: dict[str, Any]) -> dict[str, Any]:
        return {
            "creationTime": iso8601(revision["creationTime"]),
            "description": revision["description"],
            "revision": revision["revision"],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "creationTime": iso8601(self.creation_time),
            "description": self.description,
            "kafkaVersions": self.kafka_versions,
            "latestRevision": self.revision_summary(self.revisions[-1]),
            "name": self.name,
            "state": self.state,
        }


def _configurations(backend: KafkaBackend) -> dict[str, FakeConfiguration]:
    if not hasattr(backend, "stackplan_configurations"):
        backend.stackplan_configurations = {}
    return backend.stackplan_configurations


def _configuration(backend: KafkaBackend, arn: str | None) -> FakeConfiguration:
    configuration = _configurations(backend).get(arn or "")
    if configuration is None:
        raise not_found(f"The configuration {arn} does not exist.")
    return configuration


def _revision(backend: KafkaBackend, arn: str | None, revision: Any) -> dict[str, Any]:
    configuration = _configuration(backend, arn)
    try:
        return configuration.revisions[int(revision) - 1]
    except (TypeError, ValueError, IndexError):
        raise not_found(f"Revision {revision} of configuration {arn} does not exist.")


def _server_properties(blob: str | None) -> bytes:
    """Decodes and checks `serverProperties`: base64 of a Java properties
    file, one `key=value` per line (comments and blank lines allowed)."""
    if not blob:
        raise bad_request("serverProperties is required.")
    try:
        text = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("serverProperties must be base64 encoded.")
    for number, line in enumerate(text.decode("utf-8", "replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, _ = line.partition("=")
        if not sep or not key.strip():
            raise bad_request(f"Invalid server property on line {number}: {line}")
    return text


def create_configuration(
    self: KafkaBackend,
    name: str,
    description: str,
    kafka_versions: list[str],
    server_properties: str,
) -> dict[str, Any]:
    if not name:
        raise bad_request("name is required.")
    if any(c.name == name for c in _configurations(self).values()):
        raise conflict(f"A configuration with the name {name} already exists.")
    properties = _server_properties(server_properties)
    configuration = FakeConfiguration(
        self.account_id, self.region_name, name, description, kafka_versions
    )
    configuration.add_revision(description, properties)
    _configurations(self)[configuration.arn] = configuration
    out = configuration.to_dict()
    return {k: out[k] for k in ("arn", "creationTime", "latestRevision", "name", "state")}


def update_configuration(
    self: KafkaBackend, arn: str, description: str, server_properties: str
) -> dict[str, Any]:
    configuration = _configuration(self, arn)
    if configuration.state != "ACTIVE":
        raise bad_request(f"The configuration {arn} is in state {configuration.state}.")
    revision = configuration.add_revision(description, _server_properties(server_properties))
    return {"arn": arn, "latestRevision": configuration.revision_summary(revision)}


def delete_configuration(self: KafkaBackend, arn: str) -> dict[str, Any]:
    if _configuration(self, arn).state == "DELETING":  # NotFoundException when unknown
        raise bad_request(f"Configuration {arn} is already being deleted.")
    users = [
        c.cluster_name
        for c in self.clusters.values()
        if (c.configuration_info or {}).get("arn") == arn
    ]
    if users:
        raise bad_request(
            f"Configuration {arn} is in use by cluster(s) {', '.join(users)} and cannot be deleted."
        )
    # MSK deletes a configuration asynchronously (botocore kafka model,
    # DeleteConfigurationResponse.State: ACTIVE, DELETING, DELETE_FAILED):
    # here it reads DELETING once and is gone at the read after, holding
    # its name meanwhile.
    configuration = _configuration(self, arn)
    configuration.state = "DELETING"
    return {"arn": arn, "state": "DELETING"}


def _settle_configurations(backend: KafkaBackend) -> None:
    """Ends the deletions seen DELETING by an earlier read."""
    configurations = _configurations(backend)
    for arn, configuration in list(configurations.items()):
        if configuration.state == "DELETING":
            if getattr(configuration, "seen_deleting", False):
                del configurations[arn]
            else:
                configuration.seen_deleting = True


# --- SCRAM secrets ----------------------------------------------------------


def _secret_problem(backend: KafkaBackend, secret_arn: str) -> tuple[str, str] | None:
    """Why MSK would refuse this secret, as (errorCode, errorMessage)."""
    secrets = secretsmanager_backends[backend.account_id][backend.region_name]
    secret = None
    for candidate in secrets.secrets.values():
        if getattr(candidate, "arn", None) == secret_arn:
            secret = candidate
            break
    if secret is None:
        return "SecretNotFound", f"Secret {secret_arn} does not exist."
    if not secret.name.startswith("AmazonMSK_"):
        return "InvalidSecretName", "The secret name must begin with the prefix AmazonMSK_."
    kms_key = getattr(secret, "kms_key_id", None)
    if not kms_key or kms_key in ("alias/aws/secretsmanager", secrets.DEFAULT_KMS_KEY_ALIAS):
        return (
            "InvalidKmsKey",
            "A secret created with the default AWS KMS key cannot be used with an Amazon MSK "
            "cluster. Use a customer managed key.",
        )
    return None


def batch_associate_scram_secret(
    self: KafkaBackend, cluster_arn: str, secret_arns: list[str]
) -> dict[str, Any]:
    cluster = _cluster(self, cluster_arn)
    if not _scram_enabled(cluster.client_authentication):
        raise bad_request("SASL/SCRAM authentication is not enabled for this cluster.")
    if not secret_arns:
        raise bad_request("secretArnList must contain at least one secret ARN.")
    unprocessed = []
    for arn in secret_arns:
        problem = _secret_problem(self, arn)
        if problem:
            unprocessed.append(
                {"errorCode": problem[0], "errorMessage": problem[1], "secretArn": arn}
            )
        elif arn not in cluster.scram_secrets:
            cluster.scram_secrets.append(arn)
    return {"clusterArn": cluster_arn, "unprocessedScramSecrets": unprocessed}


def batch_disassociate_scram_secret(
    self: KafkaBackend, cluster_arn: str, secret_arns: list[str]
) -> dict[str, Any]:
    cluster = _cluster(self, cluster_arn)
    unprocessed = []
    for arn in secret_arns or []:
        if arn in cluster.scram_secrets:
            cluster.scram_secrets.remove(arn)
        else:
            unprocessed.append(
                {
                    "errorCode": "SecretNotAssociated",
                    "errorMessage": f"Secret {arn} is not associated with the cluster.",
                    "secretArn": arn,
                }
            )
    return {"clusterArn": cluster_arn, "unprocessedScramSecrets": unprocessed}


# --- Bootstrap brokers ------------------------------------------------------


def get_bootstrap_brokers(self: KafkaBackend, cluster_arn: str) -> dict[str, Any]:
    """Broker strings per the MSK developer guide's port table: 9092
    plaintext, 9094 TLS, 9096 SASL/SCRAM, 9098 SASL/IAM; a string is present
    only when the cluster's auth and encryption settings enable it."""
    cluster = _cluster(self, cluster_arn)
    if cluster.cluster_type != "PROVISIONED":
        raise bad_request(
            "GetBootstrapBrokers is not supported for serverless clusters; use GetBootstrapBrokers on the VPC connection."
        )
    if cluster.state == "CREATING":
        raise bad_request("The cluster is still being created. Try again later.")
    name = cluster.cluster_name.lower()[:32]
    hosts = [
        f"b-{i}.{name}.{cluster.broker_dns_suffix}.kafka.{self.region_name}.amazonaws.com"
        for i in range(1, int(cluster.number_of_broker_nodes or 1) + 1)
    ]

    def at(port: int) -> str:
        return ",".join(f"{h}:{port}" for h in hosts)

    auth = cluster.client_authentication or {}
    client_broker = (
        ((cluster.encryption_info or {}).get("encryptionInTransit") or {}).get("clientBroker")
    ) or "TLS"
    unauthenticated = (auth.get("unauthenticated") or {}).get("enabled", not auth)
    tls_auth = (auth.get("tls") or {}).get("enabled", False)
    out: dict[str, Any] = {}
    if client_broker in ("PLAINTEXT", "TLS_PLAINTEXT") and unauthenticated:
        out["bootstrapBrokerString"] = at(9092)
    if client_broker in ("TLS", "TLS_PLAINTEXT") and (unauthenticated or tls_auth):
        out["bootstrapBrokerStringTls"] = at(9094)
    if _scram_enabled(auth):
        out["bootstrapBrokerStringSaslScram"] = at(9096)
    if _iam_enabled(auth):
        out["bootstrapBrokerStringSaslIam"] = at(9098)
    return out


# --- Cluster updates and their operations -----------------------------------


def _operations(backend: KafkaBackend) -> dict[str, dict[str, Any]]:
    if not hasattr(backend, "stackplan_operations"):
        backend.stackplan_operations = {}
    return backend.stackplan_operations


def _mutable_info(cluster: FakeKafkaCluster) -> dict[str, Any]:
    info = cluster.broker_node_group_info or {}
    out: dict[str, Any] = {
        "numberOfBrokerNodes": cluster.number_of_broker_nodes,
        "kafkaVersion": cluster.kafka_version,
        "instanceType": info.get("instanceType"),
        "enhancedMonitoring": cluster.enhanced_monitoring,
    }
    if cluster.configuration_info:
        out["configurationInfo"] = cluster.configuration_info
    if cluster.client_authentication:
        out["clientAuthentication"] = cluster.client_authentication
    if cluster.encryption_info:
        out["encryptionInfo"] = cluster.encryption_info
    volume = (info.get("storageInfo") or {}).get("ebsStorageInfo", {}).get("volumeSize")
    if volume:
        out["brokerEBSVolumeInfo"] = [{"kafkaBrokerNodeId": "All", "volumeSizeGB": volume}]
    return out


def _update(
    backend: KafkaBackend,
    cluster_arn: str,
    current_version: str | None,
    operation_type: str,
    change,
) -> dict[str, Any]:
    """Applies `change` to the cluster as one MSK cluster operation.

    Like MSK: the caller's currentVersion must match, the cluster must be
    ACTIVE, and the change yields a clusterOperationArn that
    DescribeClusterOperation reports as UPDATE_COMPLETE.
    """
    cluster = _cluster(backend, cluster_arn)
    _settle(cluster)
    if current_version != cluster.current_version:
        raise bad_request(
            "The provided current version doesn't match the cluster's current version "
            f"({cluster.current_version})."
        )
    if cluster.state != "ACTIVE":
        raise bad_request(f"The cluster is in state {cluster.state}; it must be ACTIVE.")
    source = _mutable_info(cluster)
    change(cluster)
    target = _mutable_info(cluster)
    cluster.current_version = random_id(14, string.ascii_uppercase + string.digits)
    cluster.state = "UPDATING"
    now = iso8601(utcnow())
    arn = cluster.arn.replace(":cluster/", ":cluster-operation/", 1) + f"/{random.uuid4()}"
    _operations(backend)[arn] = {
        "clusterArn": cluster_arn,
        "creationTime": now,
        "endTime": now,
        "operationArn": arn,
        "operationState": "UPDATE_COMPLETE",
        "operationType": operation_type,
        "sourceClusterInfo": source,
        "targetClusterInfo": target,
        "operationSteps": [],
    }
    return {"clusterArn": cluster_arn, "clusterOperationArn": arn}


def update_broker_count(
    self: KafkaBackend, cluster_arn: str, current_version: str, target: Any
) -> dict[str, Any]:
    def change(cluster: FakeKafkaCluster) -> None:
        count = int(target or 0)
        subnets = len((cluster.broker_node_group_info or {}).get("clientSubnets") or []) or 1
        if count == cluster.number_of_broker_nodes:
            raise bad_request("The cluster already has this number of broker nodes.")
        if count < 1 or count % subnets:
            raise bad_request(
                "The number of broker nodes must be a multiple of Availability Zones in the "
                "Client Subnets parameter."
            )
        if count < cluster.number_of_broker_nodes:
            # Broker removal (MSK developer guide, "Remove a broker from an
            # Amazon MSK cluster"): MSK removes only brokers that hold no
            # partitions but those of __amazon_msk_canary and
            # __amazon_msk_canary_state. This model keeps no partitions, so
            # every broker is taken to hold some, as the brokers of a
            # cluster in use do.
            raise bad_request(
                f"Cannot remove {cluster.number_of_broker_nodes - count} broker(s): the brokers "
                "to remove still host partitions. Move all partitions off them first "
                "(broker removal)."
            )
        cluster.number_of_broker_nodes = count

    return _update(self, cluster_arn, current_version, "INCREASE_BROKER_COUNT", change)


def _broker_family(instance_type: str) -> str:
    """`kafka.m5.large` -> `m5`; `express.m7g.large` -> `express.m7g`."""
    parts = instance_type.split(".")
    if parts[0] == "express":
        return ".".join(parts[:2])
    return parts[1] if len(parts) > 2 else instance_type


# MSK developer guide, "Update the Amazon MSK cluster broker size": for
# Standard brokers, from M5 or T3 to M7g, T3 to M5, or M7g to M5 (and a
# size within a family); never to a smaller T3 from a larger size; Express
# brokers are M7g sizes only, and a Standard cluster reaches Express only
# by the in-place upgrade's composite type (botocore kafka model,
# UpdateBrokerType.TargetInstanceType).
_BROKER_FAMILY_PATHS = {
    "t3": {"t3", "m5", "m7g"},
    "m5": {"m5", "m7g"},
    "m7g": {"m7g", "m5"},
    "express.m7g": {"express.m7g"},
}


def broker_type_change_problem(current: str, target: str) -> str | None:
    source, dest = _broker_family(current), _broker_family(target)
    allowed = _BROKER_FAMILY_PATHS.get(source)
    if allowed is None or dest in allowed:
        return None
    return (
        f"Updating the broker type from {current} to {target} is not supported. Standard "
        "brokers can move from M5 or T3 to M7g, from T3 to M5, or from M7g to M5."
    )


def update_broker_type(
    self: KafkaBackend, cluster_arn: str, current_version: str, target: str
) -> dict[str, Any]:
    def change(cluster: FakeKafkaCluster) -> None:
        info = cluster.broker_node_group_info = dict(cluster.broker_node_group_info or {})
        if not target or not target.startswith("kafka."):
            raise bad_request(f"Invalid target instance type: {target}")
        if info.get("instanceType") == target:
            raise bad_request("The cluster's brokers already have this instance type.")
        problem = broker_type_change_problem(info.get("instanceType") or "", target)
        if problem:
            raise bad_request(problem)
        info["instanceType"] = target

    return _update(self, cluster_arn, current_version, "UPDATE_BROKER_TYPE", change)


# MSK developer guide, "Manual scaling for Standard brokers": storage
# scaling has a cool-down period of at least six hours between events.
STORAGE_COOL_DOWN = datetime.timedelta(hours=6)


def _parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc
    )


def last_storage_update_end(backend: KafkaBackend, cluster_arn: str) -> datetime.datetime | None:
    """The end of the cluster's last finished UPDATE_BROKER_STORAGE operation."""
    ends = [
        _parse_time(o["endTime"])
        for o in _operations(backend).values()
        if o["clusterArn"] == cluster_arn
        and o["operationType"] == "UPDATE_BROKER_STORAGE"
        and o.get("endTime")
    ]
    return max(ends, default=None)


def update_broker_storage(
    self: KafkaBackend, cluster_arn: str, current_version: str, volumes: list[dict[str, Any]]
) -> dict[str, Any]:
    def change(cluster: FakeKafkaCluster) -> None:
        info = cluster.broker_node_group_info = dict(cluster.broker_node_group_info or {})
        storage = dict(info.get("storageInfo") or {})
        ebs = dict(storage.get("ebsStorageInfo") or {})
        size = int((volumes or [{}])[0].get("volumeSizeGB") or 0)
        if size <= int(ebs.get("volumeSize") or 0):
            raise bad_request("Broker storage can only be increased.")
        last = last_storage_update_end(self, cluster_arn)
        if last is not None and utcnow() - last < STORAGE_COOL_DOWN:
            raise bad_request(
                "The cluster is in a storage cool-down period after the storage update that "
                f"ended at {iso8601(last)}. You can update storage again after "
                f"{iso8601(last + STORAGE_COOL_DOWN)}."
            )
        ebs["volumeSize"] = size
        storage["ebsStorageInfo"] = ebs
        info["storageInfo"] = storage

    return _update(self, cluster_arn, current_version, "UPDATE_BROKER_STORAGE", change)


def update_cluster_configuration(
    self: KafkaBackend, cluster_arn: str, current_version: str, configuration_info: dict[str, Any]
) -> dict[str, Any]:
    def change(cluster: FakeKafkaCluster) -> None:
        _check_configuration_use(self, configuration_info or {}, cluster.kafka_version)
        cluster.configuration_info = dict(configuration_info)

    return _update(self, cluster_arn, current_version, "UPDATE_CLUSTER_CONFIGURATION", change)


# The versions MSK offers for provisioned clusters (MSK developer guide,
# "Supported Apache Kafka versions"), oldest first. GetCompatibleKafkaVersions
# lists the later versions of the same metadata mode: MSK upgrades in place
# but never downgrades, and a ZooKeeper cluster reaches KRaft only as a new
# cluster (MSK developer guide, "Upgrade the Apache Kafka version").
ZOOKEEPER_VERSIONS = ["2.8.1", "3.3.2", "3.4.0", "3.5.1", "3.6.0", "3.7.x", "3.8.x", "3.9.x"]
KRAFT_VERSIONS = ["3.7.x.kraft", "3.8.x.kraft", "3.9.x.kraft"]


def compatible_targets(version: str) -> list[str]:
    for line in (ZOOKEEPER_VERSIONS, KRAFT_VERSIONS):
        if version in line:
            return line[line.index(version) + 1 :]
    return []


def get_compatible_kafka_versions(self: KafkaBackend, cluster_arn: str | None) -> dict[str, Any]:
    if cluster_arn:
        cluster = _cluster(self, cluster_arn)
        sources = [cluster.kafka_version]
    else:
        sources = ZOOKEEPER_VERSIONS + KRAFT_VERSIONS
    return {
        "compatibleKafkaVersions": [
            {"sourceVersion": v, "targetVersions": compatible_targets(v)} for v in sources
        ]
    }


def _check_configuration_use(
    backend: KafkaBackend, configuration_info: dict[str, Any], kafka_version: str
) -> None:
    """A configuration serves only the Kafka versions it lists (botocore
    kafka model, CreateConfiguration.KafkaVersions: "The versions of Apache
    Kafka with which you can use this MSK configuration"), and one being
    deleted serves none."""
    arn = configuration_info.get("arn")
    _revision(backend, arn, configuration_info.get("revision"))
    configuration = _configuration(backend, arn)
    if configuration.state != "ACTIVE":
        raise bad_request(f"The configuration {arn} is in state {configuration.state}.")
    if configuration.kafka_versions and kafka_version not in configuration.kafka_versions:
        raise bad_request(
            f"The configuration {arn} does not support Kafka version {kafka_version}; it "
            f"supports {', '.join(configuration.kafka_versions)}."
        )


def update_cluster_kafka_version(
    self: KafkaBackend,
    cluster_arn: str,
    current_version: str,
    target: str,
    configuration_info: dict[str, Any] | None,
) -> dict[str, Any]:
    def change(cluster: FakeKafkaCluster) -> None:
        if not target or target == cluster.kafka_version:
            raise bad_request("The target Kafka version must differ from the current one.")
        targets = compatible_targets(cluster.kafka_version)
        if target not in targets:
            raise bad_request(
                f"Kafka version {target} is not compatible with the cluster's version "
                f"{cluster.kafka_version}. Compatible versions: {', '.join(targets) or 'none'}."
            )
        configuration = configuration_info or cluster.configuration_info
        if configuration:
            _check_configuration_use(self, configuration, target)
        if configuration_info:
            cluster.configuration_info = dict(configuration_info)
        cluster.kafka_version = target

    return _update(self, cluster_arn, current_version, "UPDATE_CLUSTER_KAFKA_VERSION", change)


def update_security(
    self: KafkaBackend,
    cluster_arn: str,
    current_version: str,
    client_authentication: dict[str, Any] | None,
    encryption_info: dict[str, Any] | None,
) -> dict[str, Any]:
    def change(cluster: FakeKafkaCluster) -> None:
        if not client_authentication and not encryption_info:
            raise bad_request("Specify clientAuthentication or encryptionInfo.")
        if client_authentication:
            cluster.client_authentication = client_authentication
        if encryption_info:
            merged = dict(cluster.encryption_info or {})
            merged.update(encryption_info)
            cluster.encryption_info = merged

    return _update(self, cluster_arn, current_version, "UPDATE_SECURITY", change)


def describe_cluster_operation(self: KafkaBackend, arn: str) -> dict[str, Any]:
    operation = _operations(self).get(arn)
    if operation is None:
        raise not_found(f"Cluster operation {arn} does not exist.")
    return operation


# --- Response handlers ----------------------------------------------------
#
# moto routes every /v1/clusters/... request here; the botocore-model router
# cannot always name the operation, because MSK puts whole ARNs (with `/`)
# into URI labels. So the operation is chosen from method + path suffix,
# the same table the MSK API reference gives.

_ROUTES: list[tuple[str, str, str]] = [
    # (method, path suffix after the ARN, handler)
    ("POST", "/scram-secrets", "batch_associate_scram_secret"),
    ("PATCH", "/scram-secrets", "batch_disassociate_scram_secret"),
    ("GET", "/scram-secrets", "list_scram_secrets"),
    ("GET", "/bootstrap-brokers", "get_bootstrap_brokers"),
    ("PUT", "/nodes/count", "update_broker_count"),
    ("PUT", "/nodes/type", "update_broker_type"),
    ("PUT", "/nodes/storage", "update_broker_storage"),
    ("PUT", "/configuration", "update_cluster_configuration"),
    ("PUT", "/version", "update_cluster_kafka_version"),
    ("PATCH", "/security", "update_security"),
    ("GET", "/operations", "list_cluster_operations"),
]

_orig_get_action = KafkaResponse._get_action


def _get_action(self: KafkaResponse) -> str:
    path = self.path
    if path.startswith("/v1/configurations"):
        rest = path[len("/v1/configurations") :]
        if rest in ("", "/"):
            return {"POST": "CreateConfiguration", "GET": "ListConfigurations"}[self.method]
        if "/revisions" in rest:
            tail = rest.rsplit("/revisions", 1)[1]
            return (
                "DescribeConfigurationRevision" if tail.strip("/") else "ListConfigurationRevisions"
            )
        return {
            "GET": "DescribeConfiguration",
            "PUT": "UpdateConfiguration",
            "DELETE": "DeleteConfiguration",
        }[self.method]
    if path.startswith("/v1/operations/"):
        return "DescribeClusterOperation"
    if path.rstrip("/") == "/v1/compatible-kafka-versions":
        return "GetCompatibleKafkaVersions"
    if path.startswith("/v1/clusters/"):
        for method, suffix, handler in _ROUTES:
            if self.method == method and path.endswith(suffix):
                return "".join(part.capitalize() for part in handler.split("_"))
    return _orig_get_action(self)


def _body(self: KafkaResponse) -> dict[str, Any]:
    try:
        return json.loads(self.body) if self.body else {}
    except ValueError:
        raise bad_request("The request body is not valid JSON.")


def _cluster_arn(self: KafkaResponse, suffix: str) -> str:
    return path_label_after(self.path, "/v1/clusters/", suffix)


def _config_arn(self: KafkaResponse) -> str:
    arn = path_label_after(self.path, "/v1/configurations/")
    return arn.split("/revisions", 1)[0]


def _query(self: KafkaResponse, name: str) -> str | None:
    values = self.querystring.get(name)
    return values[0] if values else None


def _r_create_configuration(self: KafkaResponse) -> str:
    body = _body(self)
    return json.dumps(
        self.kafka_backend.create_configuration(
            body.get("name"),
            body.get("description"),
            body.get("kafkaVersions"),
            body.get("serverProperties"),
        )
    )


def _r_describe_configuration(self: KafkaResponse) -> str:
    _settle_configurations(self.kafka_backend)
    return json.dumps(_configuration(self.kafka_backend, _config_arn(self)).to_dict())


def _r_describe_configuration_revision(self: KafkaResponse) -> str:
    arn = _config_arn(self)
    number = self.path.rstrip("/").rsplit("/", 1)[1]
    revision = _revision(self.kafka_backend, arn, number)
    return json.dumps(
        {
            "arn": arn,
            "creationTime": iso8601(revision["creationTime"]),
            "description": revision["description"],
            "revision": revision["revision"],
            "serverProperties": base64.b64encode(revision["serverProperties"]).decode(),
        }
    )


def _r_list_configurations(self: KafkaResponse) -> str:
    _settle_configurations(self.kafka_backend)
    items = sorted(_configurations(self.kafka_backend).values(), key=lambda c: c.name)
    page, token = paginate(
        [c.to_dict() for c in items], _query(self, "maxResults"), _query(self, "nextToken")
    )
    out: dict[str, Any] = {"configurations": page}
    if token:
        out["nextToken"] = token
    return json.dumps(out)


def _r_list_configuration_revisions(self: KafkaResponse) -> str:
    configuration = _configuration(self.kafka_backend, _config_arn(self))
    summaries = [configuration.revision_summary(r) for r in configuration.revisions]
    page, token = paginate(summaries, _query(self, "maxResults"), _query(self, "nextToken"))
    out: dict[str, Any] = {"revisions": page}
    if token:
        out["nextToken"] = token
    return json.dumps(out)


def _r_update_configuration(self: KafkaResponse) -> str:
    body = _body(self)
    return json.dumps(
        self.kafka_backend.update_configuration(
            _config_arn(self), body.get("description"), body.get("serverProperties")
        )
    )


def _r_delete_configuration(self: KafkaResponse) -> str:
    return json.dumps(self.kafka_backend.delete_configuration(_config_arn(self)))


def _r_batch_associate_scram_secret(self: KafkaResponse) -> str:
    return json.dumps(
        self.kafka_backend.batch_associate_scram_secret(
            _cluster_arn(self, "/scram-secrets"), _body(self).get("secretArnList") or []
        )
    )


def _r_batch_disassociate_scram_secret(self: KafkaResponse) -> str:
    return json.dumps(
        self.kafka_backend.batch_disassociate_scram_secret(
            _cluster_arn(self, "/scram-secrets"), _body(self).get("secretArnList") or []
        )
    )


def _r_list_scram_secrets(self: KafkaResponse) -> str:
    cluster = _cluster(self.kafka_backend, _cluster_arn(self, "/scram-secrets"))
    page, token = paginate(
        list(cluster.scram_secrets), _query(self, "maxResults"), _query(self, "nextToken")
    )
    out: dict[str, Any] = {"secretArnList": page}
    if token:
        out["nextToken"] = token
    return json.dumps(out)


def _r_get_bootstrap_brokers(self: KafkaResponse) -> str:
    return json.dumps(
        self.kafka_backend.get_bootstrap_brokers(_cluster_arn(self, "/bootstrap-brokers"))
    )


def _r_update_broker_count(self: KafkaResponse) -> str:
    body = _body(self)
    return json.dumps(
        self.kafka_backend.update_broker_count(
            _cluster_arn(self, "/nodes/count"),
            body.get("currentVersion"),
            body.get("targetNumberOfBrokerNodes"),
        )
    )


def _r_update_broker_type(self: KafkaResponse) -> str:
    body = _body(self)
    return json.dumps(
        self.kafka_backend.update_broker_type(
            _cluster_arn(self, "/nodes/type"),
            body.get("currentVersion"),
            body.get("targetInstanceType"),
        )
    )


def _r_update_broker_storage(self: KafkaResponse) -> str:
    body = _body(self)
    return json.dumps(
        self.kafka_backend.update_broker_storage(
            _cluster_arn(self, "/nodes/storage"),
            body.get("currentVersion"),
            body.get("targetBrokerEBSVolumeInfo"),
        )
    )


def _r_update_cluster_configuration(self: KafkaResponse) -> str:
    body = _body(self)
    return json.dumps(
        self.kafka_backend.update_cluster_configuration(
            _cluster_arn(self, "/configuration"),
            body.get("currentVersion"),
            body.get("configurationInfo"),
        )
    )


def _r_update_cluster_kafka_version(self: KafkaResponse) -> str:
    body = _body(self)
    return json.dumps(
        self.kafka_backend.update_cluster_kafka_version(
            _cluster_arn(self, "/version"),
            body.get("currentVersion"),
            body.get("targetKafkaVersion"),
            body.get("configurationInfo"),
        )
    )


def _r_update_security(self: KafkaResponse) -> str:
    body = _body(self)
    return json.dumps(
        self.kafka_backend.update_security(
            _cluster_arn(self, "/security"),
            body.get("currentVersion"),
            body.get("clientAuthentication"),
            body.get("encryptionInfo"),
        )
    )


def _r_describe_cluster_operation(self: KafkaResponse) -> str:
    arn = path_label_after(self.path, "/v1/operations/")
    return json.dumps({"clusterOperationInfo": self.kafka_backend.describe_cluster_operation(arn)})


def _r_list_cluster_operations(self: KafkaResponse) -> str:
    arn = _cluster_arn(self, "/operations")
    _cluster(self.kafka_backend, arn)
    ops = [o for o in _operations(self.kafka_backend).values() if o["clusterArn"] == arn]
    ops.sort(key=lambda o: o["creationTime"], reverse=True)
    page, token = paginate(ops, _query(self, "maxResults"), _query(self, "nextToken"))
    out: dict[str, Any] = {"clusterOperationInfoList": page}
    if token:
        out["nextToken"] = token
    return json.dumps(out)


def _r_get_compatible_kafka_versions(self: KafkaResponse) -> str:
    return json.dumps(
        self.kafka_backend.get_compatible_kafka_versions(_query(self, "clusterArn"))
    )


def _r_describe_cluster(self: KafkaResponse) -> str:
    arn = path_label_after(self.path, "/v1/clusters/")
    return json.dumps({"clusterInfo": self.kafka_backend.describe_cluster(arn)})


def _r_describe_cluster_v2(self: KafkaResponse) -> str:
    arn = path_label_after(self.path, "/api/v2/clusters/")
    return json.dumps({"clusterInfo": self.kafka_backend.describe_cluster_v2(arn)})


def _r_delete_cluster(self: KafkaResponse) -> str:
    arn = path_label_after(self.path, "/v1/clusters/")
    arn, state = self.kafka_backend.delete_cluster(arn, _query(self, "currentVersion"))
    return json.dumps({"clusterArn": arn, "state": state})


# --- the harness's control: time passing for cluster operations -------------


def age_cluster_operations(
    request: Any, full_url: str, headers: Any
) -> tuple[int, dict[str, str], str]:
    """Moves a cluster's operations `Hours` into the past, as if that much
    time had passed since they ran (the storage cool-down counts from the
    last storage update's end). Not an AWS operation."""
    json_headers = {"Content-Type": "application/json"}
    if request.method != "POST":
        return 405, json_headers, json.dumps({"message": 'POST {"ClusterArn": ..., "Hours": n}'})
    try:
        body = json.loads(request.data or b"{}")
        arn, hours = body["ClusterArn"], float(body["Hours"])
        parts = arn.split(":", 5)
        region, account_id = parts[3], parts[4]
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        return 400, json_headers, json.dumps({"message": 'expected {"ClusterArn", "Hours"}'})
    backend = kafka_backends[account_id][region]
    if arn not in backend.clusters:
        return 404, json_headers, json.dumps({"message": f"Cluster {arn} does not exist."})
    shift = datetime.timedelta(hours=hours)
    aged = 0
    for operation in _operations(backend).values():
        if operation["clusterArn"] == arn:
            for key in ("creationTime", "endTime"):
                if operation.get(key):
                    operation[key] = iso8601(_parse_time(operation[key]) - shift)
            aged += 1
    return 200, json_headers, json.dumps({"ClusterArn": arn, "Aged": aged})


def _json_response(handler):
    """Answers with Content-Type application/json (moto's Kafka handlers
    answer text/html, which strict clients may refuse)."""

    def wrapped(self: KafkaResponse):
        return 200, {"Content-Type": "application/json"}, handler(self)

    wrapped.__name__ = handler.__name__
    return wrapped


def install() -> None:
    """Registers the routes, backend methods and response handlers."""
    kafka_urls.url_paths.update(
        {
            "{0}/v1/configurations$": KafkaResponse.dispatch,
            "{0}/v1/configurations/(?P<arn>.+)$": KafkaResponse.dispatch,
            "{0}/v1/operations/(?P<clusterOperationArn>.+)$": KafkaResponse.dispatch,
            "{0}/v1/compatible-kafka-versions$": KafkaResponse.dispatch,
        }
    )
    moto_api_urls.url_paths["{0}/moto-api/stackplan/kafka/age-cluster-operations"] = (
        age_cluster_operations
    )
    KafkaBackend.get_compatible_kafka_versions = get_compatible_kafka_versions
    FakeKafkaCluster.__init__ = _cluster_init
    FakeKafkaCluster._generate_arn = _generate_arn
    KafkaBackend.create_cluster = create_cluster
    KafkaBackend.describe_cluster = describe_cluster
    KafkaBackend.describe_cluster_v2 = describe_cluster_v2
    KafkaBackend.delete_cluster = delete_cluster
    KafkaBackend.create_configuration = create_configuration
    KafkaBackend.update_configuration = update_configuration
    KafkaBackend.delete_configuration = delete_configuration
    KafkaBackend.batch_associate_scram_secret = batch_associate_scram_secret
    KafkaBackend.batch_disassociate_scram_secret = batch_disassociate_scram_secret
    KafkaBackend.get_bootstrap_brokers = get_bootstrap_brokers
    KafkaBackend.update_broker_count = update_broker_count
    KafkaBackend.update_broker_type = update_broker_type
    KafkaBackend.update_broker_storage = update_broker_storage
    KafkaBackend.update_cluster_configuration = update_cluster_configuration
    KafkaBackend.update_cluster_kafka_version = update_cluster_kafka_version
    KafkaBackend.update_security = update_security
    KafkaBackend.describe_cluster_operation = describe_cluster_operation

    KafkaResponse._get_action = _get_action
    handlers = {
        "create_configuration": _r_create_configuration,
        "describe_configuration": _r_describe_configuration,
        "describe_configuration_revision": _r_describe_configuration_revision,
        "list_configurations": _r_list_configurations,
        "list_configuration_revisions": _r_list_configuration_revisions,
        "update_configuration": _r_update_configuration,
        "delete_configuration": _r_delete_configuration,
        "batch_associate_scram_secret": _r_batch_associate_scram_secret,
        "batch_disassociate_scram_secret": _r_batch_disassociate_scram_secret,
        "list_scram_secrets": _r_list_scram_secrets,
        "get_bootstrap_brokers": _r_get_bootstrap_brokers,
        "update_broker_count": _r_update_broker_count,
        "update_broker_type": _r_update_broker_type,
        "update_broker_storage": _r_update_broker_storage,
        "update_cluster_configuration": _r_update_cluster_configuration,
        "update_cluster_kafka_version": _r_update_cluster_kafka_version,
        "update_security": _r_update_security,
        "describe_cluster_operation": _r_describe_cluster_operation,
        "list_cluster_operations": _r_list_cluster_operations,
        "get_compatible_kafka_versions": _r_get_compatible_kafka_versions,
        "describe_cluster": _r_describe_cluster,
        "describe_cluster_v2": _r_describe_cluster_v2,
        "delete_cluster": _r_delete_cluster,
    }
    for name, handler in handlers.items():
        setattr(KafkaResponse, name, _json_response(handler))
    # moto's own string-answering handlers get the same content type.
    for name in (
        "create_cluster",
        "create_cluster_v2",
        "list_clusters",
        "list_clusters_v2",
        "list_tags_for_resource",
        "tag_resource",
        "untag_resource",
        "put_cluster_policy",
        "get_cluster_policy",
        "delete_cluster_policy",
    ):
        setattr(KafkaResponse, name, _json_response(getattr(KafkaResponse, name)))
