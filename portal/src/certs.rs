//! The carrier's certificates, for the dashboard's alarm: any that expires within 30 days
//! (SPEC §13), or has expired, or cannot be read. The files are the ones the network or the
//! node was started with; they are read again on every look, so a renewed certificate
//! clears its alarm without a restart.

use std::path::PathBuf;

use openssl::asn1::Asn1Time;
use openssl::x509::X509;
use settlement::carrier::CarrierId;

/// One certificate file of a carrier.
#[derive(Debug, Clone)]
pub struct CertFile {
    /// Whose.
    pub carrier: CarrierId,
    /// What it is for (`peer`, `client`, `TLS node`, …).
    pub role: String,
    /// Where it is.
    pub path: PathBuf,
}

/// An alarm for each of `carrier`'s certificates that expires within `days` days, has
/// expired, or cannot be read.
pub fn expiring(files: &[CertFile], carrier: CarrierId, days: u32) -> Vec<String> {
    let limit = match Asn1Time::days_from_now(days) {
        Ok(t) => t,
        Err(e) => return vec![format!("certificates cannot be checked: {e}")],
    };
    let now = match Asn1Time::days_from_now(0) {
        Ok(t) => t,
        Err(e) => return vec![format!("certificates cannot be checked: {e}")],
    };
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.carrier == carrier) {
        let cert = std::fs::read(&f.path)
            .map_err(|e| e.to_string())
            .and_then(|pem| X509::from_pem(&pem).map_err(|e| e.to_string()));
        let cert = match cert {
            Ok(c) => c,
            Err(e) => {
                out.push(format!(
                    "the {} certificate ({}) cannot be read: {e}",
                    f.role,
                    f.path.display()
                ));
                continue;
            }
        };
        let end = cert.not_after();
        if end > limit {
            continue;
        }
        let left = now.diff(end).map(|d| d.days).unwrap_or_default();
        out.push(if end < now {
            format!(
                "the {} certificate ({}) expired on {end}: renew it",
                f.role,
                f.path.display()
            )
        } else {
            format!(
                "the {} certificate ({}) expires on {end}, in {left} day(s): renew it",
                f.role,
                f.path.display()
            )
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::identity::CertificateAuthority;

    #[test]
    fn certificates_expiring_within_the_window_or_unreadable_raise_an_alarm() {
        let dir = tempfile::tempdir().unwrap();
        let alpha = CarrierId::parse("alpha").unwrap();
        let beta = CarrierId::parse("beta").unwrap();
        let write = |name: &str, days: u32| {
            let path = dir.path().join(name);
            let ca = CertificateAuthority::new("alpha", days).unwrap();
            std::fs::write(&path, ca.cert_pem().unwrap()).unwrap();
            path
        };
        let file = |carrier, role: &str, path| CertFile {
            carrier,
            role: role.into(),
            path,
        };
        let files = [
            file(alpha, "soon", write("soon.pem", 10)),
            file(alpha, "later", write("later.pem", 400)),
            file(alpha, "missing", dir.path().join("missing.pem")),
            file(beta, "beta's", write("beta.pem", 1)),
        ];
        let alarms = expiring(&files, alpha, 30);
        assert_eq!(alarms.len(), 2, "{alarms:?}");
        assert!(
            alarms[0].starts_with("the soon certificate") && alarms[0].contains("day(s): renew it"),
            "{alarms:?}"
        );
        assert!(
            alarms[1].starts_with("the missing certificate")
                && alarms[1].contains("cannot be read"),
            "{alarms:?}"
        );
        // Another carrier's certificate is not this carrier's alarm.
        assert!(!alarms.iter().any(|a| a.contains("beta's")));
        assert_eq!(expiring(&files, beta, 30).len(), 1);
    }
}
