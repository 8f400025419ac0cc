//! Value types that travel as their text: carrier ids, services, currencies and rounding
//! modes serialise as the strings SPEC.md writes them, and deserialise through the same
//! parsers that read files, so a value is checked wherever it enters.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Implements `Serialize` through `Display` and `Deserialize` through `FromStr`.
macro_rules! serde_as_text {
    ($($t:ty),* $(,)?) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::text::serialize(self, s)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::text::deserialize(d)
            }
        }
    )*};
}

/// Writes a value as its text.
pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Reads a value from its text with its own parser; the parser's message is the error.
pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: Display,
    D: Deserializer<'de>,
{
    let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
    text.parse().map_err(D::Error::custom)
}

serde_as_text!(
    crate::carrier::CarrierId,
    crate::service::Service,
    crate::money::Currency,
    crate::money::Rounding,
);

#[cfg(test)]
mod tests {
    use crate::carrier::CarrierId;
    use crate::money::{Currency, Rounding};
    use crate::service::Service;

    #[test]
    fn values_travel_as_their_text_and_are_checked_on_the_way_in() {
        let alpha = CarrierId::parse("alpha").unwrap();
        assert_eq!(serde_json::to_string(&alpha).unwrap(), "\"alpha\"");
        assert_eq!(
            serde_json::from_str::<CarrierId>("\"alpha\"").unwrap(),
            alpha
        );
        assert_eq!(serde_json::to_string(&Service::Sms).unwrap(), "\"sms\"");
        assert_eq!(
            serde_json::to_string(&Rounding::HalfEven).unwrap(),
            "\"half_even\""
        );
        let eur: Currency = serde_json::from_str("\"EUR\"").unwrap();
        assert_eq!(eur.as_str(), "EUR");
        for bad in ["\"Alpha\"", "\"a\"", "3"] {
            assert!(serde_json::from_str::<CarrierId>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Currency>("\"eur\"").unwrap_err();
        assert!(err.to_string().contains("not a currency code"), "{err}");
        assert!(serde_json::from_str::<Service>("\"fax\"").is_err());
    }
}
