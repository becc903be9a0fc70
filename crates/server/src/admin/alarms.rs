//! The resource alarms through the facade: which are set and what they measure, and the
//! thresholds changed at runtime (`warren ctl set_vm_memory_high_watermark`,
//! `set_disk_free_limit`).

use super::{Admin, AlarmsInfo};
use crate::config::{DiskFreeLimit, MemoryWatermark};
use crate::error::{AmqpError, AmqpResult};

impl Admin {
    /// Whether the memory and disk alarms are set, with memory used and its limit and free
    /// disk space and its limit, as the last check (at most a second ago) measured them.
    pub fn alarms(&self) -> AlarmsInfo {
        self.broker.alarms().info()
    }

    /// A new memory high watermark, checked against the memory in use at once: above it the
    /// alarm is set, below it cleared. A relative one is a fraction of the machine's (or
    /// cgroup's) memory; 0 blocks every publisher, as in RabbitMQ.
    pub fn set_memory_high_watermark(&self, watermark: MemoryWatermark) -> AmqpResult<()> {
        if let MemoryWatermark::Relative(f) = watermark {
            check_fraction("vm_memory_high_watermark", f)?;
        }
        self.broker.alarms().set_memory_high_watermark(watermark);
        Ok(())
    }

    /// A new free disk space limit, checked against the free space at once.
    pub fn set_disk_free_limit(&self, limit: DiskFreeLimit) -> AmqpResult<()> {
        if let DiskFreeLimit::MemRelative(f) = limit {
            check_fraction("disk_free_limit", f)?;
        }
        self.broker.alarms().set_disk_free_limit(limit);
        Ok(())
    }
}

fn check_fraction(name: &str, f: f64) -> AmqpResult<()> {
    if f.is_finite() && f >= 0.0 {
        Ok(())
    } else {
        Err(AmqpError::precondition_failed(format!(
            "{name}: {f} is not a non-negative number"
        )))
    }
}
