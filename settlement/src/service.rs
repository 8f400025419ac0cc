//! Services and their rate units (SPEC §2.1, §4).

use std::fmt;
use std::str::FromStr;

/// The kind of traffic a record measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Calls, measured in seconds, priced per minute.
    Voice,
    /// Messages, measured and priced per message.
    Sms,
    /// Data, measured in bytes, priced per megabyte (1,048,576 bytes).
    Data,
}

/// The text is not a service name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a service (expected voice, sms or data)")]
pub struct BadService(pub String);

impl Service {
    /// Parses `voice`, `sms` or `data`.
    pub fn parse(s: &str) -> Option<Service> {
        match s {
            "voice" => Some(Service::Voice),
            "sms" => Some(Service::Sms),
            "data" => Some(Service::Data),
            _ => None,
        }
    }

    /// `U` of SPEC §4: the service's units in one rate unit.
    pub fn rate_unit(self) -> u64 {
        match self {
            Service::Voice => 60,
            Service::Sms => 1,
            Service::Data => 1_048_576,
        }
    }

    /// The default `units_tolerance` of SPEC §6.1.
    pub fn default_units_tolerance(self) -> u64 {
        match self {
            Service::Voice => 1,
            Service::Sms | Service::Data => 0,
        }
    }

    /// The name as written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Voice => "voice",
            Service::Sms => "sms",
            Service::Data => "data",
        }
    }
}

impl FromStr for Service {
    type Err = BadService;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::parse(s).ok_or_else(|| BadService(s.to_string()))
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
