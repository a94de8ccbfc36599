//! Amazon MSK: the configuration (a change is a new revision), the cluster
//! (SASL/SCRAM, TLS in transit; broker count and type, storage,
//! configuration revision, Kafka version and authentication updated in
//! place, one cluster operation at a time) and the SCRAM secret
//! association. The SASL/SCRAM bootstrap broker string is an output.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use aws_sdk_kafka::primitives::{Blob, DateTime, DateTimeFormat};
use aws_sdk_kafka::types::{
    BrokerEbsVolumeInfo, BrokerNodeGroupInfo, ClientAuthentication, ClientBroker, ClusterInfo,
    ConfigurationInfo, EbsStorageInfo, EncryptionInTransit, EncryptionInfo, Sasl, Scram,
    StorageInfo,
};
use stackplan_core::{
    ApplyRequest, Attrs, DeleteRequest, EventSink, Observed, Phase, ReadRequest, ResourceAddr,
    Value,
};

use crate::attrs::{Desired, as_int, differs, str_list_value, str_map_value, tags_value};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::network::adopt_read;
use crate::wait::{Poll, create_or_find, poll_until, poll_until_gone, progress, same_stack};

/// MSK's answer to a create of a name that exists (botocore kafka model,
/// `ConflictException`, HTTP 409).
const CONFLICT: &str = "ConflictException";
use crate::{AwsProvider, prior_id, waited_id};

/// `server.properties` text as a map; comments and blank lines skipped.
pub(crate) fn parse_server_properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// A map as `server.properties` text, sorted so the same map always makes
/// the same revision content.
pub(crate) fn render_server_properties(props: &BTreeMap<String, String>) -> String {
    props.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

fn sorted(items: &[String]) -> Value {
    let mut v: Vec<&str> = items.iter().map(String::as_str).collect();
    v.sort_unstable();
    str_list_value(v)
}

fn hash_tags(map: BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.into_iter().collect())
}

fn configuration_info(d: &Desired<'_>) -> AwsResult<Option<ConfigurationInfo>> {
    let Some(c) = d.opt_map("configuration")? else {
        return Ok(None);
    };
    let arn = c
        .get("arn")
        .and_then(Value::as_str)
        .ok_or_else(|| AwsError::attribute(d.addr, "configuration.arn", "expected a string"))?;
    let revision = c.get("revision").and_then(as_int).ok_or_else(|| {
        AwsError::attribute(d.addr, "configuration.revision", "expected an integer")
    })?;
    Ok(Some(
        ConfigurationInfo::builder()
            .arn(arn)
            .revision(revision)
            .build(),
    ))
}

fn client_authentication(d: &Desired<'_>) -> AwsResult<ClientAuthentication> {
    let scram = d
        .opt_map("client_authentication")?
        .and_then(|m| m.get("sasl_scram"))
        .map(|v| matches!(v, Value::Bool(true)))
        .unwrap_or(true);
    Ok(ClientAuthentication::builder()
        .sasl(
            Sasl::builder()
                .scram(Scram::builder().enabled(scram).build())
                .build(),
        )
        .build())
}

fn encryption_info(d: &Desired<'_>) -> AwsResult<EncryptionInfo> {
    let e = d.opt_map("encryption_in_transit")?;
    let client_broker = e
        .and_then(|m| m.get("client_broker"))
        .and_then(Value::as_str)
        .unwrap_or("TLS");
    let in_cluster = e
        .and_then(|m| m.get("in_cluster"))
        .map(|v| matches!(v, Value::Bool(true)))
        .unwrap_or(true);
    Ok(EncryptionInfo::builder()
        .encryption_in_transit(
            EncryptionInTransit::builder()
                .client_broker(ClientBroker::from(client_broker))
                .in_cluster(in_cluster)
                .build(),
        )
        .build())
}

/// `<name>-<6 hex>`: the name a configuration takes while an older copy
/// holds `name`, the hex an FNV-1a digest of its Kafka versions (sorted),
/// folded to 24 bits, so every run and machine picks the same. MSK
/// configuration names are 1 to 64 characters (MSK API reference,
/// CreateConfiguration).
pub(crate) fn suffixed_config_name(name: &str, kafka_versions: &[String]) -> String {
    let mut versions: Vec<&str> = kafka_versions.iter().map(String::as_str).collect();
    versions.sort_unstable();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in versions.join("\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let folded = (hash ^ (hash >> 24) ^ (hash >> 48)) & 0xff_ffff;
    let keep: String = name.chars().take(64 - 7).collect();
    format!("{keep}-{folded:06x}")
}

/// Reports a configuration made under its suffixed name
/// ([`suffixed_config_name`]) by the stack's `name`, so the suffix is not
/// a difference the next plan replaces it for.
fn with_stack_name(mut o: Observed, stack_name: &str) -> Observed {
    let live = o
        .attrs
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let versions: Vec<String> = match o.attrs.get("kafka_versions") {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if live != stack_name && live == suffixed_config_name(stack_name, &versions) {
        o.attrs.insert("name".into(), Value::string(stack_name));
    }
    o
}

/// MSK's storage cool-down: "Storage scaling has a cool-down period of at
/// least six hours between events" (MSK developer guide, "Manual scaling
/// for Standard brokers").
const STORAGE_COOL_DOWN_SECS: i64 = 6 * 60 * 60;

fn fmt_time(t: &DateTime) -> String {
    t.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| t.secs().to_string())
}

/// `kafka.m5.large` -> `m5`; `express.m7g.large` -> `express.m7g`.
fn broker_family(instance_type: &str) -> String {
    let parts: Vec<&str> = instance_type.split('.').collect();
    match parts.as_slice() {
        ["express", family, ..] => format!("express.{family}"),
        [_, family, _, ..] => (*family).to_string(),
        _ => instance_type.to_string(),
    }
}

/// Why UpdateBrokerType cannot move `from` to `to`, if it cannot. MSK
/// developer guide, "Update the Amazon MSK cluster broker size": Standard
/// brokers move from M5 or T3 to M7g, from T3 to M5, or from M7g to M5
/// (and between sizes of one family), never from a larger size to T3;
/// Express brokers are M7g sizes only, and a Standard cluster becomes
/// Express only through the in-place upgrade's composite broker type
/// (botocore kafka model, UpdateBrokerType.TargetInstanceType).
pub(crate) fn broker_type_change_refusal(from: &str, to: &str) -> Option<String> {
    let (source, dest) = (broker_family(from), broker_family(to));
    let allowed: &[&str] = match source.as_str() {
        "t3" => &["t3", "m5", "m7g"],
        "m5" => &["m5", "m7g"],
        "m7g" => &["m7g", "m5"],
        "express.m7g" => &["express.m7g"],
        _ => return None,
    };
    (!allowed.contains(&dest.as_str())).then(|| {
        format!(
            "instance_type {from} -> {to}: UpdateBrokerType supports, for Standard brokers, \
             M5 or T3 to M7g, T3 to M5 and M7g to M5, never a larger size to T3, and reaches \
             Express brokers only through MSK's in-place Express upgrade (MSK developer guide, \
             \"Update the Amazon MSK cluster broker size\")"
        )
    })
}

/// The rules of MSK's in-place cluster updates that the attributes alone
/// decide, one message each:
/// - UpdateBrokerStorage only grows a broker's EBS volume ("You can't
///   decrease the storage", MSK developer guide, "Scale up Amazon MSK
///   Standard broker storage");
/// - UpdateBrokerCount, as this provider calls it, only adds brokers:
///   removing them is MSK's broker removal (MSK developer guide, "Remove a
///   broker from an Amazon MSK cluster"), which first needs every
///   partition moved off the brokers to remove, one broker per zone, M5 or
///   M7g brokers and Kafka 2.8.1 or later: work outside the stack;
/// - UpdateBrokerType's documented paths ([`broker_type_change_refusal`]).
pub(crate) fn cluster_change_refusals(desired: &Attrs, live: &Attrs) -> Vec<String> {
    let int = |a: &Attrs, k: &str| a.get(k).and_then(as_int);
    let mut out = Vec::new();
    if let (Some(want), Some(have)) = (int(desired, "volume_size"), int(live, "volume_size"))
        && want < have
    {
        out.push(format!(
            "volume_size {have} -> {want}: UpdateBrokerStorage can only increase broker storage \
             (MSK developer guide, \"Scale up Amazon MSK Standard broker storage\": you can't \
             decrease the storage)"
        ));
    }
    if let (Some(want), Some(have)) = (
        int(desired, "number_of_broker_nodes"),
        int(live, "number_of_broker_nodes"),
    ) && want < have
    {
        out.push(format!(
            "number_of_broker_nodes {have} -> {want}: UpdateBrokerCount adds brokers; removing \
             them is MSK's broker removal, which needs all partitions moved off the brokers \
             to remove first (MSK developer guide, \"Remove a broker from an Amazon MSK \
             cluster\"): move the partitions, remove the brokers, then set the stack's count"
        ));
    }
    if let (Some(want), Some(have)) = (
        desired.get("instance_type").and_then(Value::as_str),
        live.get("instance_type").and_then(Value::as_str),
    ) && want != have
        && let Some(r) = broker_type_change_refusal(have, want)
    {
        out.push(r);
    }
    out
}

impl AwsProvider {
    // --- Configuration ---------------------------------------------------------

    async fn msk_config_observe(
        &self,
        addr: &ResourceAddr,
        arn: &str,
    ) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.kafka
                .describe_configuration()
                .arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeConfiguration", e)),
        )?;
        let Some(c) = out else { return Ok(None) };
        if c.state().map(|s| s.as_str()) == Some("DELETING") {
            return Ok(None);
        }
        let revision = c.latest_revision().and_then(|r| r.revision()).unwrap_or(1);
        let rev = self
            .kafka
            .describe_configuration_revision()
            .arn(arn)
            .revision(revision)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "DescribeConfigurationRevision", e))?;
        let text = rev
            .server_properties()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
            .unwrap_or_default();
        Ok(Some(
            Observed::new(arn)
                .attr("name", c.name().unwrap_or_default())
                .attr("description", c.description().unwrap_or_default())
                .attr("kafka_versions", sorted(c.kafka_versions()))
                .attr(
                    "server_properties",
                    str_map_value(parse_server_properties(&text)),
                )
                .output("arn", arn)
                .output("latest_revision", revision),
        ))
    }

    pub(crate) async fn msk_config_read(
        &self,
        req: ReadRequest<'_>,
    ) -> AwsResult<Option<Observed>> {
        let desired_name = req
            .desired
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str);
        let found = match (prior_id(req.prior), desired_name) {
            (Some(arn), _) => self.msk_config_observe(req.addr, arn).await?,
            (None, Some(name)) => match self.msk_config_named(req.addr, name).await? {
                Some(o) => Some(o),
                // State lost after a Kafka upgrade: the configuration in
                // use may hold the suffixed name its create took.
                None => {
                    let versions = Desired::new(req.addr, req.desired.unwrap_or(&Attrs::new()))
                        .str_list("kafka_versions")
                        .unwrap_or_default();
                    self.msk_config_named(req.addr, &suffixed_config_name(name, &versions))
                        .await?
                }
            },
            (None, None) => None,
        };
        Ok(found.map(|o| match desired_name {
            Some(name) => with_stack_name(o, name),
            None => o,
        }))
    }

    /// The configuration of this name, not being deleted: configuration
    /// names are unique per account and region.
    async fn msk_config_named(
        &self,
        addr: &ResourceAddr,
        name: &str,
    ) -> AwsResult<Option<Observed>> {
        let req_addr = addr;
        let mut token = None;
        loop {
            let page = self
                .kafka
                .list_configurations()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::api(req_addr, "ListConfigurations", e))?;
            if let Some(arn) = page
                .configurations()
                .iter()
                .find(|c| {
                    c.name() == Some(name) && c.state().map(|s| s.as_str()) != Some("DELETING")
                })
                .and_then(|c| c.arn())
            {
                return self.msk_config_observe(req_addr, arn).await;
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(None),
            }
        }
    }

    pub(crate) async fn msk_config_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let props = render_server_properties(&d.str_map("server_properties")?);
        progress(req.events, req.addr, Phase::Creating, "CreateConfiguration");
        let name = d.str("name")?;
        let description = d.opt_str("description")?;
        let versions = d.str_list("kafka_versions")?;
        let (props, versions) = (&props, &versions);
        // Configuration names are unique per account and region, and
        // CreateConfiguration has no token (botocore kafka model 1.44.8;
        // ConflictException is among its errors): a retry of one made but
        // whose answer was lost answers ConflictException. Configurations
        // carry no tags, so the one of that name is taken over only when it
        // holds exactly the server properties, description and Kafka
        // versions this create sends (what the lost attempt made), never
        // when they differ.
        //
        // A configuration is replaced create-before-destroy (a new Kafka
        // version: KafkaVersions cannot change, and MSK refuses to delete
        // a configuration a cluster uses), so the old copy still holds the
        // stack's name: the new one then takes `<name>-<6 hex>`, the hex a
        // digest of its Kafka versions, so a create tried again picks the
        // same name and finds what the first try made.
        let fresh = suffixed_config_name(name, versions);
        let mut arn = None;
        for candidate in [name, fresh.as_str()] {
            let made = create_or_find(
                req.addr,
                req.events,
                "CreateConfiguration",
                &[CONFLICT],
                || async move {
                    let out = self
                        .kafka
                        .create_configuration()
                        .name(candidate)
                        .set_description(description.map(str::to_string))
                        .set_kafka_versions(Some(versions.clone()).filter(|v| !v.is_empty()))
                        .server_properties(Blob::new(props.clone().into_bytes()))
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "CreateConfiguration", e))?;
                    Ok(out.arn().unwrap_or_default().to_string())
                },
                || async move {
                    let found = self.msk_config_named(req.addr, candidate).await?;
                    let kind = req.addr.kind;
                    Ok(found
                        .filter(|o| {
                            !differs(kind, &o.attrs, req.desired, "server_properties")
                                && !differs(kind, &o.attrs, req.desired, "description")
                                && !differs(kind, &o.attrs, req.desired, "kafka_versions")
                        })
                        .and_then(|o| o.physical_id))
                },
            )
            .await;
            match made {
                Ok(a) => {
                    arn = Some(a);
                    break;
                }
                Err(e) if candidate == name && e.code() == Some(CONFLICT) => progress(
                    req.events,
                    req.addr,
                    Phase::Creating,
                    format!(
                        "the name {name} is held by another configuration (the one this \
                         replaces, while a cluster uses it or its deletion runs): \
                         CreateConfiguration as {fresh}"
                    ),
                ),
                Err(e) => return Err(e),
            }
        }
        let arn = arn.unwrap_or_default();
        self.msk_config_observe(req.addr, &arn)
            .await?
            .map(|o| with_stack_name(o, name))
            .ok_or_else(|| vanished(req.addr, "DescribeConfiguration", &arn))
    }

    pub(crate) async fn msk_config_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let arn = self.managed_id(&req)?;
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .msk_config_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeConfiguration", &arn))?;
        if differs(req.addr.kind, &live.attrs, req.desired, "server_properties")
            || differs(req.addr.kind, &live.attrs, req.desired, "description")
        {
            let props = render_server_properties(&d.str_map("server_properties")?);
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                "UpdateConfiguration (new revision)",
            );
            self.kafka
                .update_configuration()
                .arn(&arn)
                .set_description(d.opt_str("description")?.map(str::to_string))
                .server_properties(Blob::new(props.into_bytes()))
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UpdateConfiguration", e))?;
        }
        self.msk_config_observe(req.addr, &arn)
            .await?
            .map(|o| with_stack_name(o, d.str("name").unwrap_or_default()))
            .ok_or_else(|| vanished(req.addr, "DescribeConfiguration", &arn))
    }

    pub(crate) async fn msk_config_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(arn) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteConfiguration");
        absent_if_not_found(
            self.kafka
                .delete_configuration()
                .arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteConfiguration", e)),
        )?;
        Ok(())
    }

    // --- Cluster ---------------------------------------------------------------

    async fn msk_describe(&self, addr: &ResourceAddr, arn: &str) -> AwsResult<Option<ClusterInfo>> {
        let out = absent_if_not_found(
            self.kafka
                .describe_cluster()
                .cluster_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeCluster", e)),
        )?;
        Ok(out.and_then(|o| o.cluster_info().cloned()))
    }

    async fn msk_cluster_observe(
        &self,
        addr: &ResourceAddr,
        arn: &str,
    ) -> AwsResult<Option<Observed>> {
        let Some(c) = self.msk_describe(addr, arn).await? else {
            return Ok(None);
        };
        let state = c.state().map(|s| s.as_str()).unwrap_or_default();
        if state == "DELETING" {
            return Ok(None);
        }
        let brokers = c.broker_node_group_info();
        let software = c.current_broker_software_info();
        let scram = c
            .client_authentication()
            .and_then(|a| a.sasl())
            .and_then(|s| s.scram())
            .and_then(|s| s.enabled())
            .unwrap_or(false);
        let in_transit = c.encryption_info().and_then(|e| e.encryption_in_transit());
        let mut o = Observed::new(arn)
            .attr("cluster_name", c.cluster_name().unwrap_or_default())
            .attr(
                "kafka_version",
                software.and_then(|s| s.kafka_version()).unwrap_or_default(),
            )
            .attr(
                "number_of_broker_nodes",
                i64::from(c.number_of_broker_nodes().unwrap_or(0)),
            )
            .attr(
                "instance_type",
                brokers.and_then(|b| b.instance_type()).unwrap_or_default(),
            )
            .attr(
                "client_subnets",
                sorted(brokers.map(|b| b.client_subnets()).unwrap_or_default()),
            )
            .attr(
                "security_groups",
                sorted(brokers.map(|b| b.security_groups()).unwrap_or_default()),
            )
            .attr(
                "client_authentication",
                Value::map([("sasl_scram", Value::Bool(scram))]),
            )
            .attr(
                "encryption_in_transit",
                Value::map([
                    (
                        "client_broker",
                        Value::string(
                            in_transit
                                .and_then(|e| e.client_broker())
                                .map(|c| c.as_str())
                                .unwrap_or("TLS"),
                        ),
                    ),
                    (
                        "in_cluster",
                        Value::Bool(in_transit.and_then(|e| e.in_cluster()).unwrap_or(true)),
                    ),
                ]),
            )
            .attr(
                "tags",
                tags_value(
                    c.tags()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ),
            )
            .output("arn", arn)
            .output("state", state)
            .output("current_version", c.current_version().unwrap_or_default());
        if let Some(size) = brokers
            .and_then(|b| b.storage_info())
            .and_then(|s| s.ebs_storage_info())
            .and_then(|e| e.volume_size())
        {
            o = o.attr("volume_size", i64::from(size));
        }
        if let (Some(cfg), Some(rev)) = (
            software.and_then(|s| s.configuration_arn()),
            software.and_then(|s| s.configuration_revision()),
        ) {
            o = o.attr(
                "configuration",
                Value::map([("arn", Value::string(cfg)), ("revision", Value::Int(rev))]),
            );
        }
        if let Some(zk) = c.zookeeper_connect_string() {
            o = o.output("zookeeper_connect_string", zk);
        }
        // Brokers have addresses only once the cluster is up.
        if state == "ACTIVE" || state == "UPDATING" {
            let b = self
                .kafka
                .get_bootstrap_brokers()
                .cluster_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "GetBootstrapBrokers", e))?;
            if let Some(s) = b.bootstrap_broker_string_sasl_scram() {
                o = o.output("bootstrap_brokers_sasl_scram", s);
            }
        }
        Ok(Some(o))
    }

    pub(crate) async fn msk_arn_by_name(
        &self,
        addr: &ResourceAddr,
        name: &str,
    ) -> AwsResult<Option<String>> {
        let out = self
            .kafka
            .list_clusters()
            .cluster_name_filter(name)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "ListClusters", e))?;
        Ok(out
            .cluster_info_list()
            .iter()
            .find(|c| c.cluster_name() == Some(name))
            .and_then(|c| c.cluster_arn())
            .map(str::to_string))
    }

    pub(crate) async fn msk_cluster_read(
        &self,
        req: ReadRequest<'_>,
    ) -> AwsResult<Option<Observed>> {
        let arn = match prior_id(req.prior) {
            Some(a) => Some(a.to_string()),
            None => match req
                .desired
                .and_then(|d| d.get("cluster_name"))
                .and_then(Value::as_str)
            {
                Some(name) => self.msk_arn_by_name(req.addr, name).await?,
                None => None,
            },
        };
        let Some(arn) = arn else { return Ok(None) };
        let observed = self.msk_cluster_observe(req.addr, &arn).await?;
        // A plan reads a cluster it manages with the stack's attributes:
        // what MSK will refuse to change in place is found here, where the
        // API can be asked, and refused by `plan_change`, at plan rather
        // than half-way through an apply. (A create's look-up after a lost
        // answer reads without state and is not checked.)
        if let (Some(desired), Some(live), Some(_)) = (req.desired, &observed, req.prior) {
            let refusals = self
                .msk_change_refusals(req.addr, &arn, desired, &live.attrs)
                .await?;
            if let Ok(mut m) = self.msk_refusals.lock() {
                m.insert(req.addr.clone(), refusals);
            }
        }
        Ok(observed)
    }

    /// MSK's rules for an in-place change of `live` into `desired`, one
    /// message per rule broken: those [`cluster_change_refusals`]
    /// judges from the attributes alone, then the storage cool-down
    /// (ListClusterOperations) and the Kafka upgrade path
    /// (GetCompatibleKafkaVersions), which only the API knows.
    async fn msk_change_refusals(
        &self,
        addr: &ResourceAddr,
        arn: &str,
        desired: &Attrs,
        live: &Attrs,
    ) -> AwsResult<Vec<String>> {
        let mut refusals = cluster_change_refusals(desired, live);
        let (want_size, have_size) = (
            desired.get("volume_size").and_then(as_int),
            live.get("volume_size").and_then(as_int),
        );
        if let (Some(want), Some(have)) = (want_size, have_size)
            && want > have
            && let Some(last) = self.msk_last_storage_update(addr, arn).await?
        {
            let now = DateTime::from(SystemTime::now()).secs();
            if now - last.secs() < STORAGE_COOL_DOWN_SECS {
                let next = DateTime::from_secs(last.secs() + STORAGE_COOL_DOWN_SECS);
                refusals.push(format!(
                    "volume_size {have} -> {want}: MSK needs at least 6 hours between storage \
                     updates (MSK developer guide, \"Manual scaling for Standard brokers\": a \
                     cool-down of at least six hours between storage scaling events); the last \
                     UpdateBrokerStorage ended at {} (ListClusterOperations), so the next can \
                     start after {}",
                    fmt_time(&last),
                    fmt_time(&next)
                ));
            }
        }
        let (want_version, have_version) = (
            desired.get("kafka_version").and_then(Value::as_str),
            live.get("kafka_version").and_then(Value::as_str),
        );
        if let (Some(want), Some(have)) = (want_version, have_version)
            && want != have
        {
            let targets = self.msk_compatible_versions(addr, arn, have).await?;
            if !targets.iter().any(|t| t == want) {
                refusals.push(format!(
                    "kafka_version {have} -> {want}: UpdateClusterKafkaVersion upgrades only to \
                     a version GetCompatibleKafkaVersions lists for {have}: {}",
                    if targets.is_empty() {
                        "none".to_string()
                    } else {
                        targets.join(", ")
                    }
                ));
            }
        }
        Ok(refusals)
    }

    /// When the cluster's last storage update ended (or started, while it
    /// runs): the newest UPDATE_BROKER_STORAGE of ListClusterOperations
    /// (botocore kafka model: "all the operations that have been performed
    /// on the specified MSK cluster").
    async fn msk_last_storage_update(
        &self,
        addr: &ResourceAddr,
        arn: &str,
    ) -> AwsResult<Option<DateTime>> {
        let mut last: Option<DateTime> = None;
        let mut token = None;
        loop {
            let page = self
                .kafka
                .list_cluster_operations()
                .cluster_arn(arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "ListClusterOperations", e))?;
            for op in page.cluster_operation_info_list() {
                if op.operation_type() != Some("UPDATE_BROKER_STORAGE")
                    || op.operation_state() == Some("UPDATE_FAILED")
                {
                    continue;
                }
                if let Some(t) = op.end_time().or(op.creation_time())
                    && last.is_none_or(|l| t.secs() > l.secs())
                {
                    last = Some(*t);
                }
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(last),
            }
        }
    }

    /// The versions GetCompatibleKafkaVersions offers this cluster's
    /// `version` as targets.
    async fn msk_compatible_versions(
        &self,
        addr: &ResourceAddr,
        arn: &str,
        version: &str,
    ) -> AwsResult<Vec<String>> {
        let out = self
            .kafka
            .get_compatible_kafka_versions()
            .cluster_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "GetCompatibleKafkaVersions", e))?;
        Ok(out
            .compatible_kafka_versions()
            .iter()
            .filter(|c| c.source_version() == Some(version))
            .flat_map(|c| c.target_versions().iter().cloned())
            .collect())
    }

    pub(crate) async fn msk_cluster_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let mut storage = None;
        if let Some(size) = d.opt_int("volume_size")? {
            storage = Some(
                StorageInfo::builder()
                    .ebs_storage_info(EbsStorageInfo::builder().volume_size(size as i32).build())
                    .build(),
            );
        }
        let brokers = BrokerNodeGroupInfo::builder()
            .instance_type(d.str("instance_type")?)
            .set_client_subnets(Some(d.str_list("client_subnets")?))
            .set_security_groups(Some(d.str_list("security_groups")?))
            .set_storage_info(storage)
            .build();
        progress(req.events, req.addr, Phase::Creating, "CreateCluster");
        let call = self
            .kafka
            .create_cluster()
            .cluster_name(d.str("cluster_name")?)
            .kafka_version(d.str("kafka_version")?)
            .number_of_broker_nodes(d.int("number_of_broker_nodes")? as i32)
            .broker_node_group_info(brokers)
            .set_configuration_info(configuration_info(&d)?)
            .client_authentication(client_authentication(&d)?)
            .encryption_info(encryption_info(&d)?)
            .set_tags(hash_tags(d.str_map("tags")?));
        let (call, tag_map) = (&call, &d.str_map("tags")?);
        // Cluster names are unique per account and region; CreateCluster
        // has no token (botocore kafka model 1.44.8, ConflictException
        // among its errors): a retry of a cluster made but whose answer was
        // lost answers ConflictException. The cluster of that name is taken
        // over when its tags, given in the same call, name this stack.
        let arn = create_or_find(
            req.addr,
            req.events,
            "CreateCluster",
            &[CONFLICT],
            || async move {
                let out = call
                    .clone()
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateCluster", e))?;
                Ok(out.cluster_arn().unwrap_or_default().to_string())
            },
            || async move {
                let found = self.msk_cluster_read(adopt_read(&req)).await?;
                Ok(found
                    .filter(|o| same_stack(o.attrs.get("tags"), tag_map))
                    .and_then(|o| o.physical_id))
            },
        )
        .await?;
        // Right after create MSK reports CREATING with no brokers yet; the
        // waiter fills in the bootstrap string.
        Ok(self
            .msk_cluster_observe(req.addr, &arn)
            .await?
            .unwrap_or_else(|| Observed::new(&arn).output("arn", arn.as_str())))
    }

    /// Polls until the cluster is ACTIVE again.
    async fn msk_wait_active(
        &self,
        addr: &ResourceAddr,
        events: &dyn EventSink,
        arn: &str,
        what: &str,
    ) -> AwsResult<ClusterInfo> {
        poll_until(&self.wait, addr, events, what, || async move {
            let Some(c) = self.msk_describe(addr, arn).await? else {
                return Err(vanished(addr, "DescribeCluster", arn));
            };
            match c.state().map(|s| s.as_str()).unwrap_or_default() {
                "ACTIVE" => Ok(Poll::Ready(c)),
                "FAILED" => Err(AwsError::Failed {
                    addr: addr.clone(),
                    what: format!(
                        "cluster is FAILED: {}",
                        c.state_info()
                            .and_then(|s| s.message())
                            .unwrap_or("no reason given")
                    ),
                }),
                other => Ok(Poll::Pending(other.to_string())),
            }
        })
        .await
    }

    /// Waits for one cluster operation to finish and the cluster to be
    /// ACTIVE; returns its new current version for the next operation.
    async fn msk_operation_wait(
        &self,
        addr: &ResourceAddr,
        events: &dyn EventSink,
        arn: &str,
        operation: Option<&str>,
        what: &str,
    ) -> AwsResult<String> {
        if let Some(op) = operation {
            poll_until(&self.wait, addr, events, what, || async move {
                let out = self
                    .kafka
                    .describe_cluster_operation()
                    .cluster_operation_arn(op)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "DescribeClusterOperation", e))?;
                let info = out.cluster_operation_info();
                let state = info.and_then(|i| i.operation_state()).unwrap_or("PENDING");
                match state {
                    "UPDATE_COMPLETE" => Ok(Poll::Ready(())),
                    "UPDATE_FAILED" => Err(AwsError::Failed {
                        addr: addr.clone(),
                        what: format!(
                            "{what} failed: {}",
                            info.and_then(|i| i.error_info())
                                .and_then(|e| e.error_string())
                                .unwrap_or("no reason given")
                        ),
                    }),
                    other => Ok(Poll::Pending(other.to_string())),
                }
            })
            .await?;
        }
        let c = self
            .msk_wait_active(addr, events, arn, "cluster ACTIVE")
            .await?;
        Ok(c.current_version().unwrap_or_default().to_string())
    }

    pub(crate) async fn msk_cluster_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let arn = self.managed_id(&req)?;
        let d = Desired::new(req.addr, req.desired);
        let addr = req.addr;
        let events = req.events;
        let live = self
            .msk_cluster_observe(addr, &arn)
            .await?
            .ok_or_else(|| vanished(addr, "DescribeCluster", &arn))?;
        let kind = addr.kind;
        let live_attrs: &Attrs = &live.attrs;
        let has = |name: &str| differs(kind, live_attrs, req.desired, name);
        // MSK runs one operation at a time and each needs the version the
        // last one left, so they go in sequence, each waited for.
        let mut version = self
            .msk_wait_active(addr, events, &arn, "cluster ACTIVE before updating")
            .await?
            .current_version()
            .unwrap_or_default()
            .to_string();
        if has("number_of_broker_nodes") {
            let n = d.int("number_of_broker_nodes")?;
            progress(
                events,
                addr,
                Phase::Updating,
                format!("UpdateBrokerCount to {n}"),
            );
            let out = self
                .kafka
                .update_broker_count()
                .cluster_arn(&arn)
                .current_version(&version)
                .target_number_of_broker_nodes(n as i32)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "UpdateBrokerCount", e))?;
            version = self
                .msk_operation_wait(
                    addr,
                    events,
                    &arn,
                    out.cluster_operation_arn(),
                    "broker count update",
                )
                .await?;
        }
        if has("instance_type") {
            let t = d.str("instance_type")?;
            progress(
                events,
                addr,
                Phase::Updating,
                format!("UpdateBrokerType to {t}"),
            );
            let out = self
                .kafka
                .update_broker_type()
                .cluster_arn(&arn)
                .current_version(&version)
                .target_instance_type(t)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "UpdateBrokerType", e))?;
            version = self
                .msk_operation_wait(
                    addr,
                    events,
                    &arn,
                    out.cluster_operation_arn(),
                    "broker type update",
                )
                .await?;
        }
        if has("volume_size") {
            let size = d.int("volume_size")?;
            progress(
                events,
                addr,
                Phase::Updating,
                format!("UpdateBrokerStorage to {size} GiB"),
            );
            let out = self
                .kafka
                .update_broker_storage()
                .cluster_arn(&arn)
                .current_version(&version)
                .target_broker_ebs_volume_info(
                    BrokerEbsVolumeInfo::builder()
                        .kafka_broker_node_id("All")
                        .volume_size_gb(size as i32)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "UpdateBrokerStorage", e))?;
            version = self
                .msk_operation_wait(
                    addr,
                    events,
                    &arn,
                    out.cluster_operation_arn(),
                    "broker storage update",
                )
                .await?;
        }
        if has("kafka_version") {
            let v = d.str("kafka_version")?;
            progress(
                events,
                addr,
                Phase::Updating,
                format!("UpdateClusterKafkaVersion to {v}"),
            );
            let out = self
                .kafka
                .update_cluster_kafka_version()
                .cluster_arn(&arn)
                .current_version(&version)
                .target_kafka_version(v)
                .set_configuration_info(configuration_info(&d)?)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "UpdateClusterKafkaVersion", e))?;
            version = self
                .msk_operation_wait(
                    addr,
                    events,
                    &arn,
                    out.cluster_operation_arn(),
                    "Kafka version update",
                )
                .await?;
        } else if has("configuration")
            && let Some(cfg) = configuration_info(&d)?
        {
            progress(
                events,
                addr,
                Phase::Updating,
                format!(
                    "UpdateClusterConfiguration to revision {}",
                    cfg.revision().unwrap_or_default()
                ),
            );
            let out = self
                .kafka
                .update_cluster_configuration()
                .cluster_arn(&arn)
                .current_version(&version)
                .configuration_info(cfg)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "UpdateClusterConfiguration", e))?;
            version = self
                .msk_operation_wait(
                    addr,
                    events,
                    &arn,
                    out.cluster_operation_arn(),
                    "configuration update",
                )
                .await?;
        }
        if has("client_authentication") {
            progress(events, addr, Phase::Updating, "UpdateSecurity");
            let out = self
                .kafka
                .update_security()
                .cluster_arn(&arn)
                .current_version(&version)
                .client_authentication(client_authentication(&d)?)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "UpdateSecurity", e))?;
            self.msk_operation_wait(
                addr,
                events,
                &arn,
                out.cluster_operation_arn(),
                "security update",
            )
            .await?;
        }
        if let Some((set, remove)) = d.tag_delta(live_attrs)? {
            if !remove.is_empty() {
                self.kafka
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "UntagResource", e))?;
            }
            if !set.is_empty() {
                self.kafka
                    .tag_resource()
                    .resource_arn(&arn)
                    .set_tags(hash_tags(set))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "TagResource", e))?;
            }
        }
        self.msk_cluster_observe(addr, &arn)
            .await?
            .ok_or_else(|| vanished(addr, "DescribeCluster", &arn))
    }

    pub(crate) async fn msk_cluster_wait(
        &self,
        req: ApplyRequest<'_>,
        observed: Observed,
    ) -> AwsResult<Observed> {
        let arn = waited_id(&observed, req.prior).unwrap_or_default();
        self.msk_wait_active(req.addr, req.events, arn, "cluster ACTIVE")
            .await?;
        self.msk_cluster_observe(req.addr, arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeCluster", arn))
    }

    pub(crate) async fn msk_cluster_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(arn) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        let addr = req.addr;
        let Some(c) = self.msk_describe(addr, arn).await? else {
            return Ok(());
        };
        if c.state().map(|s| s.as_str()) != Some("DELETING") {
            progress(req.events, addr, Phase::Deleting, "DeleteCluster");
            absent_if_not_found(
                self.kafka
                    .delete_cluster()
                    .cluster_arn(arn)
                    .set_current_version(c.current_version().map(str::to_string))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "DeleteCluster", e)),
            )?;
        }
        // The security group and configuration go next, and MSK holds them
        // until the brokers are gone.
        poll_until_gone(
            &self.wait,
            addr,
            req.events,
            "cluster deletion",
            || async move {
                Ok(self.msk_describe(addr, arn).await?.map(|c| {
                    c.state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default()
                }))
            },
        )
        .await
    }

    // --- SCRAM secret association ----------------------------------------------

    async fn scram_observe(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
    ) -> AwsResult<Option<Observed>> {
        let mut secrets = BTreeSet::new();
        let mut token = None;
        loop {
            let page = absent_if_not_found(
                self.kafka
                    .list_scram_secrets()
                    .cluster_arn(cluster)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "ListScramSecrets", e)),
            )?;
            let Some(page) = page else { return Ok(None) };
            secrets.extend(page.secret_arn_list().iter().cloned());
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        // An association with no secret is no association.
        if secrets.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            Observed::new(cluster)
                .attr("cluster_arn", cluster)
                .attr("secret_arn_list", str_list_value(secrets)),
        ))
    }

    pub(crate) async fn scram_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let cluster = prior_id(req.prior).or_else(|| {
            req.desired
                .and_then(|d| d.get("cluster_arn"))
                .and_then(Value::as_str)
        });
        match cluster {
            Some(c) => self.scram_observe(req.addr, c).await,
            None => Ok(None),
        }
    }

    async fn scram_associate(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        secrets: Vec<String>,
    ) -> AwsResult<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        let out = self
            .kafka
            .batch_associate_scram_secret()
            .cluster_arn(cluster)
            .set_secret_arn_list(Some(secrets))
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "BatchAssociateScramSecret", e))?;
        // MSK answers 200 with the secrets it refused (wrong name prefix,
        // AWS managed key) listed apart: those are failures too.
        let refused: Vec<String> = out
            .unprocessed_scram_secrets()
            .iter()
            .map(|u| {
                format!(
                    "{}: {}: {}",
                    u.secret_arn().unwrap_or_default(),
                    u.error_code().unwrap_or("Error"),
                    u.error_message().unwrap_or_default()
                )
            })
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(AwsError::Failed {
                addr: addr.clone(),
                what: format!("BatchAssociateScramSecret refused {}", refused.join("; ")),
            })
        }
    }

    async fn scram_disassociate(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        secrets: Vec<String>,
    ) -> AwsResult<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        absent_if_not_found(
            self.kafka
                .batch_disassociate_scram_secret()
                .cluster_arn(cluster)
                .set_secret_arn_list(Some(secrets))
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "BatchDisassociateScramSecret", e)),
        )?;
        Ok(())
    }

    pub(crate) async fn scram_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let cluster = d.str("cluster_arn")?;
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            "BatchAssociateScramSecret",
        );
        self.scram_associate(req.addr, cluster, d.str_list("secret_arn_list")?)
            .await?;
        self.scram_observe(req.addr, cluster)
            .await?
            .ok_or_else(|| vanished(req.addr, "ListScramSecrets", cluster))
    }

    pub(crate) async fn scram_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let cluster = d.str("cluster_arn")?;
        let want: BTreeSet<String> = d.str_list("secret_arn_list")?.into_iter().collect();
        let have: BTreeSet<String> = match self.scram_observe(req.addr, cluster).await? {
            Some(o) => Desired::new(req.addr, &o.attrs)
                .str_list("secret_arn_list")?
                .into_iter()
                .collect(),
            None => BTreeSet::new(),
        };
        progress(
            req.events,
            req.addr,
            Phase::Updating,
            "BatchAssociateScramSecret",
        );
        self.scram_associate(req.addr, cluster, want.difference(&have).cloned().collect())
            .await?;
        self.scram_disassociate(req.addr, cluster, have.difference(&want).cloned().collect())
            .await?;
        self.scram_observe(req.addr, cluster)
            .await?
            .ok_or_else(|| vanished(req.addr, "ListScramSecrets", cluster))
    }

    pub(crate) async fn scram_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(cluster) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        let prior = Desired::new(req.addr, &req.prior.attributes).str_list("secret_arn_list")?;
        progress(
            req.events,
            req.addr,
            Phase::Deleting,
            "BatchDisassociateScramSecret",
        );
        self.scram_disassociate(req.addr, cluster, prior).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(volume: i64, brokers: i64, instance: &str) -> Attrs {
        [
            ("volume_size".to_string(), Value::Int(volume)),
            ("number_of_broker_nodes".to_string(), Value::Int(brokers)),
            ("instance_type".to_string(), Value::string(instance)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn storage_and_broker_decreases_are_refused_and_increases_are_not() {
        let live = cluster(100, 4, "kafka.m5.large");
        assert!(cluster_change_refusals(&cluster(200, 6, "kafka.m5.xlarge"), &live).is_empty());
        let refused = cluster_change_refusals(&cluster(50, 2, "kafka.m5.large"), &live);
        assert_eq!(refused.len(), 2, "{refused:#?}");
        assert!(refused[0].starts_with("volume_size 100 -> 50: UpdateBrokerStorage"));
        assert!(refused[1].starts_with("number_of_broker_nodes 4 -> 2: UpdateBrokerCount"));
    }

    #[test]
    fn broker_type_paths_follow_msks_documented_ones() {
        for (from, to) in [
            ("kafka.t3.small", "kafka.m5.large"),
            ("kafka.t3.small", "kafka.m7g.large"),
            ("kafka.m5.large", "kafka.m7g.xlarge"),
            ("kafka.m7g.large", "kafka.m5.large"),
            ("kafka.m5.large", "kafka.m5.2xlarge"),
            ("kafka.m5.2xlarge", "kafka.m5.large"),
        ] {
            assert_eq!(broker_type_change_refusal(from, to), None, "{from} -> {to}");
        }
        for (from, to) in [
            ("kafka.m5.large", "kafka.t3.small"),
            ("kafka.m7g.large", "kafka.t3.small"),
            ("kafka.m5.large", "express.m7g.large"),
            ("express.m7g.large", "kafka.m7g.large"),
        ] {
            assert!(
                broker_type_change_refusal(from, to).is_some(),
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn a_replacement_configurations_name_is_the_same_on_every_run_and_fits_msks_limit() {
        let v = |s: &str| vec![s.to_string()];
        let a = suffixed_config_name("milvus", &v("3.7.x"));
        assert_eq!(a, suffixed_config_name("milvus", &v("3.7.x")));
        assert_ne!(a, suffixed_config_name("milvus", &v("3.8.x")));
        assert!(
            a.starts_with("milvus-") && a.len() == "milvus-".len() + 6,
            "{a}"
        );
        assert_eq!(suffixed_config_name(&"m".repeat(64), &v("3.7.x")).len(), 64);
    }

    #[test]
    fn server_properties_round_trip_sorted_and_skip_comments() {
        let text = "# MSK\nmessage.max.bytes=10485880\n\nauto.create.topics.enable = true\n";
        let map = parse_server_properties(text);
        assert_eq!(map["auto.create.topics.enable"], "true");
        assert_eq!(
            render_server_properties(&map),
            "auto.create.topics.enable=true\nmessage.max.bytes=10485880\n"
        );
    }
}
