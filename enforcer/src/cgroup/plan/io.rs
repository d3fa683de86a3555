//! The block I/O controller, `blkio` on v1 (and in `/proc/cgroups`) and
//! `io` on v2: weights (`blkio.weight`/`blkio.bfq.weight`,
//! `io.weight`/`io.bfq.weight`) and throttles (`blkio.throttle.*`,
//! `io.max`).

use policy_sdk::BlockIo;

use super::{ControllerState, Fallback, PlanError, Planner, Version};

impl Planner<'_> {
    /// Plans `resources.blockIO`.
    pub(super) fn block_io(&mut self, block_io: &BlockIo) -> Result<(), PlanError> {
        let controller = match self.layout.controller_state("blkio") {
            ControllerState::V1(_) => "blkio",
            _ if matches!(self.layout.controller_state("io"), ControllerState::V2(_)) => "io",
            _ => "blkio",
        };
        let (mount, version) = self.hierarchy(controller, "blockIO")?;
        let leaf = self.leaf(&mount, controller, version);
        let device = |major: i64, minor: i64| format!("{major}:{minor}");
        match version {
            Version::V1 => {
                // Kernels without CFQ (5.0 and later) offer only BFQ's file.
                let weight = |this: &mut Self, file: &str, value: String| {
                    this.push_with_fallback(
                        "blkio",
                        leaf.join(format!("blkio.{file}")),
                        value.clone(),
                        Fallback {
                            file: leaf.join(format!("blkio.bfq.{file}")),
                            value,
                        },
                    );
                };
                if let Some(value) = block_io.weight {
                    weight(self, "weight", value.to_string());
                }
                for entry in &block_io.weight_device {
                    if let Some(value) = entry.weight {
                        weight(
                            self,
                            "weight_device",
                            format!("{} {value}", device(entry.major, entry.minor)),
                        );
                    }
                }
                if let Some(weight) = block_io.leaf_weight {
                    self.push(
                        "blkio",
                        leaf.join("blkio.leaf_weight"),
                        weight.to_string(),
                        false,
                    );
                }
                let throttles = [
                    ("read_bps_device", &block_io.throttle_read_bps_device),
                    ("write_bps_device", &block_io.throttle_write_bps_device),
                    ("read_iops_device", &block_io.throttle_read_iops_device),
                    ("write_iops_device", &block_io.throttle_write_iops_device),
                ];
                for (file, devices) in throttles {
                    for entry in devices {
                        self.push(
                            "blkio",
                            leaf.join(format!("blkio.throttle.{file}")),
                            format!("{} {}", device(entry.major, entry.minor), entry.rate),
                            false,
                        );
                    }
                }
            }
            Version::V2 => {
                // io.weight (iocost) or io.bfq.weight (BFQ), whichever the
                // new cgroup has; their scales differ.
                let weight = |this: &mut Self, target: String, weight: u16| {
                    this.push_with_fallback(
                        "io",
                        leaf.join("io.weight"),
                        format!("{target} {}", blkio_weight_to_io_weight(weight)),
                        Fallback {
                            file: leaf.join("io.bfq.weight"),
                            value: format!("{target} {weight}"),
                        },
                    );
                };
                if let Some(value) = block_io.weight {
                    weight(self, "default".into(), value);
                }
                for entry in &block_io.weight_device {
                    if let Some(value) = entry.weight {
                        weight(self, device(entry.major, entry.minor), value);
                    }
                }
                let throttles = [
                    ("rbps", &block_io.throttle_read_bps_device),
                    ("wbps", &block_io.throttle_write_bps_device),
                    ("riops", &block_io.throttle_read_iops_device),
                    ("wiops", &block_io.throttle_write_iops_device),
                ];
                for (key, devices) in throttles {
                    for entry in devices {
                        self.push(
                            "io",
                            leaf.join("io.max"),
                            format!("{} {key}={}", device(entry.major, entry.minor), entry.rate),
                            false,
                        );
                    }
                }
                if block_io.leaf_weight.is_some() {
                    return Err(PlanError::Unsupported {
                        field: "blockIO.leafWeight".into(),
                        version: Version::V2,
                        why: "leaf weights existed only in the v1 CFQ scheduler".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// v1 `blkio.weight` (10–1000) to v2 `io.weight` (1–10000), as runc does.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

#[cfg(test)]
mod tests {
    use policy_sdk::{BlockIo, Resources, ThrottleDevice};

    use super::super::testing::{Host, sample};
    use super::*;

    #[test]
    fn weights_on_v1_and_v2_with_their_fallbacks() {
        for (host, controller, file, value, fallback, fallback_value) in [
            (
                Host::V1,
                "blkio",
                "blkio.weight",
                "500",
                "blkio.bfq.weight",
                "500",
            ),
            (
                Host::V2,
                "io",
                "io.weight",
                "default 4950",
                "io.bfq.weight",
                "default 500",
            ),
        ] {
            let plan = host.plan(&sample());
            host.expect_writes(&plan, controller, &[(file, value)]);
            let leaf = host.leaf(controller);
            let weight = plan
                .writes
                .iter()
                .find(|w| w.file == leaf.join(file))
                .expect("a weight write");
            assert_eq!(
                weight.fallback,
                Some(Fallback {
                    file: leaf.join(fallback),
                    value: fallback_value.into()
                }),
                "{host:?}: a kernel without the file takes BFQ's"
            );
        }
    }

    #[test]
    fn throttles_on_v1_and_v2() {
        let resources = Resources {
            block_io: Some(BlockIo {
                throttle_read_bps_device: vec![ThrottleDevice {
                    major: 8,
                    minor: 0,
                    rate: 1_000_000,
                }],
                ..BlockIo::default()
            }),
            ..Resources::default()
        };
        for (host, controller, file, value) in [
            (
                Host::V1,
                "blkio",
                "blkio.throttle.read_bps_device",
                "8:0 1000000",
            ),
            (Host::V2, "io", "io.max", "8:0 rbps=1000000"),
        ] {
            host.expect_writes(&host.plan(&resources), controller, &[(file, value)]);
        }
    }

    #[test]
    fn blkio_weight_converts_as_runc_does() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }
}
