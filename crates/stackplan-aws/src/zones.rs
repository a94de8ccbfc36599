//! The Availability Zones a created VPC spans, read at plan: zone names
//! differ between accounts and regions (ca-central-1 has a, b and d; many
//! accounts have two zones in us-west-1), so they are never guessed.
//!
//! `DescribeAvailabilityZones` (botocore `ec2` model): zones of type
//! `availability-zone` (not Local or Wavelength Zones), state `available`,
//! opt-in not required, in name order, less the zone IDs the stack
//! excludes (those EKS or MSK refuse: `stackplan_stack::EXCLUDED_ZONE_IDS`).

use aws_sdk_ec2::types::{AvailabilityZoneOptInStatus, AvailabilityZoneState, Filter};
use stackplan_core::{Observed, ReadRequest, Value};

use crate::AwsProvider;
use crate::error::{AwsError, AwsResult};

impl AwsProvider {
    pub(crate) async fn zones_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let desired = req.desired;
        let count = desired
            .and_then(|d| d.get("count"))
            .and_then(|v| match v {
                Value::Int(n) => usize::try_from(*n).ok(),
                _ => None,
            })
            .unwrap_or(0);
        let exclude: Vec<String> = match desired.and_then(|d| d.get("exclude_zone_ids")) {
            Some(Value::List(ids)) => ids
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let out = self
            .ec2
            .describe_availability_zones()
            .filters(
                Filter::builder()
                    .name("zone-type")
                    .values("availability-zone")
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "DescribeAvailabilityZones", e))?;
        let mut zones: Vec<(String, String)> = out
            .availability_zones()
            .iter()
            .filter(|z| z.state() == Some(&AvailabilityZoneState::Available))
            // Regions without opt-in zones may leave the status out.
            .filter(|z| {
                z.opt_in_status()
                    .is_none_or(|s| s == &AvailabilityZoneOptInStatus::OptInNotRequired)
            })
            .filter_map(|z| Some((z.zone_name()?.to_string(), z.zone_id()?.to_string())))
            .filter(|(_, id)| !exclude.contains(id))
            .collect();
        zones.sort();
        if zones.len() < count {
            return Err(AwsError::Failed {
                addr: req.addr.clone(),
                what: format!(
                    "[network] create asks for {count} Availability Zones, but {} has {} usable: {}{}",
                    self.region,
                    zones.len(),
                    if zones.is_empty() {
                        "none".to_string()
                    } else {
                        zones
                            .iter()
                            .map(|(name, id)| format!("{name} ({id})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    if exclude.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; zone IDs {} are left out, as EKS or MSK refuse them",
                            exclude.join(", ")
                        )
                    }
                ),
            });
        }
        let mut o = Observed::new(&self.region)
            .attr("count", Value::Int(count as i64))
            .attr(
                "exclude_zone_ids",
                Value::list(exclude.iter().map(Value::string)),
            );
        for (i, (name, id)) in zones.iter().take(count).enumerate() {
            o = o
                .output(&format!("zone_{i}"), name.as_str())
                .output(&format!("zone_id_{i}"), id.as_str());
        }
        Ok(Some(o))
    }
}
