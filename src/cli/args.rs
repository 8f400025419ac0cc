//! Arguments shared by several commands, checked into the engine's types.

use std::str::FromStr;

use clap::{Args, ValueEnum};
use rust_decimal::Decimal;
use settlement::carrier::CarrierId;
use settlement::cdr::{FormatSpec, SwitchContext};
use settlement::money::{Currency, Rounding, parse_decimal};
use settlement::ratesheet::SheetTerms;
use settlement::service::Service;
use settlement::time::{Instant, Zone};

use super::{Failure, usage};

/// The ratesheet's terms: `--service --currency [--decimals] [--rounding]`.
#[derive(Debug, Args)]
pub struct TermsArgs {
    /// The service the ratesheet prices: voice, sms or data.
    #[arg(long)]
    pub service: Service,
    /// The ratesheet's currency (ISO 4217).
    #[arg(long)]
    pub currency: Currency,
    /// Decimals of each charge: 0..9, at least the currency's minor unit.
    #[arg(long, default_value_t = 4)]
    pub decimals: u32,
    /// half_up, half_even, up or down.
    #[arg(long, default_value = "half_up")]
    pub rounding: Rounding,
}

impl TermsArgs {
    /// Checks the decimals against the currency (a usage error otherwise).
    pub fn terms(&self) -> Result<SheetTerms, Failure> {
        SheetTerms::new(self.service, self.currency, self.decimals, self.rounding)
            .map_err(|e| usage(e.to_string()))
    }
}

/// The CDR file formats of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// iclear's native CSV.
    Native,
    /// Asterisk cdr-csv (Master.csv).
    Asterisk,
    /// FreeSWITCH mod_cdr_csv, template `example`.
    Freeswitch,
}

/// `--format` and what the switch formats need.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// The CDR file's format.
    #[arg(long, value_enum, default_value_t = Format::Native)]
    pub format: Format,
    /// The payer of every record of a switch file.
    #[arg(long)]
    pub orig: Option<CarrierId>,
    /// The payee of every record of a switch file.
    #[arg(long)]
    pub term: Option<CarrierId>,
    /// IANA time zone of a switch file's local times (default UTC).
    #[arg(long)]
    pub tz: Option<Zone>,
}

impl FormatArgs {
    /// The reader's format, or a usage error for flags that do not fit it.
    pub fn spec(&self) -> Result<FormatSpec, Failure> {
        if self.format == Format::Native {
            if self.orig.is_some() || self.term.is_some() || self.tz.is_some() {
                return Err(usage(
                    "--orig, --term and --tz are for --format asterisk or freeswitch",
                ));
            }
            return Ok(FormatSpec::Native);
        }
        let (Some(orig), Some(term)) = (self.orig, self.term) else {
            return Err(usage(
                "--format asterisk and freeswitch need --orig and --term",
            ));
        };
        let ctx = SwitchContext {
            orig,
            term,
            zone: self.tz.unwrap_or(Zone::Utc),
        };
        Ok(match self.format {
            Format::Asterisk => FormatSpec::Asterisk(ctx),
            _ => FormatSpec::Freeswitch(ctx),
        })
    }
}

/// A period bound as given, with its exact instant.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The text, for `summary.json`.
    pub text: String,
    /// The instant.
    pub at: Instant,
}

impl FromStr for Bound {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let at = Instant::parse_date_or_rfc3339(s)
            .ok_or_else(|| format!("`{s}` is not a date YYYY-MM-DD or an RFC 3339 time"))?;
        Ok(Bound {
            text: s.to_string(),
            at,
        })
    }
}

/// A non-negative decimal flag such as `--threshold-pct 1.0`.
pub fn decimal_flag(s: &str) -> Result<Decimal, String> {
    parse_decimal(s).ok_or_else(|| format!("`{s}` is not a decimal ≥ 0"))
}
