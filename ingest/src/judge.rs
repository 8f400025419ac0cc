//! The first stage of the pipeline, whatever the source: each row judged as far as the
//! reporter can (SPEC §2.4 up to `bad_units`, and `bad_carrier` for a counterparty it
//! shares no channel with), everything that needs ledger state left to the contract.

use settlement::carrier::CarrierId;
use settlement::cdr::packed::{self, BatchForm};
use settlement::cdr::{CdrView, RejectReason};

/// One row of a source as the reporter judged it, with where it came from.
#[derive(Debug)]
pub struct Judged<O> {
    /// Where the row was: a file's line, a partition's offset.
    pub origin: O,
    /// The record to send, or why the row is rejected.
    pub verdict: Result<Record, RejectReason>,
}

impl<O> Judged<O> {
    /// The row judged against fewer channels than its judge knew (those open for a topic's
    /// partition, say): a record whose counterparty has none of them is `bad_carrier`.
    pub fn within(mut self, has_channel: impl Fn(&CarrierId) -> bool) -> Self {
        if let Ok(record) = &self.verdict {
            let open = has_channel(&record.counterparty);
            if let Err(why) = with_channel(record.counterparty, open) {
                self.verdict = Err(why);
            }
        }
        self
    }
}

/// SPEC §2.4's `bad_carrier`: a valid record whose counterparty the reporter shares no
/// channel with (`shared` says whether it does): nothing could ever state it.
fn with_channel(counterparty: CarrierId, shared: bool) -> Result<CarrierId, RejectReason> {
    if shared {
        Ok(counterparty)
    } else {
        Err(RejectReason::BadCarrier)
    }
}

/// A valid record, ready for its counterparty's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The other carrier of the record: the channel it goes to.
    pub counterparty: CarrierId,
    /// The form of the batches it goes in: packed for a file's rows, native CSV for a
    /// stream's messages.
    pub form: BatchForm,
    /// The record in that form: packed (`settlement::cdr::packed`), or a native CSV data
    /// line, normalised, with its line ending.
    pub bytes: Vec<u8>,
}

/// Who judges rows and against what; the file and the stream judge alike with it.
#[derive(Debug, Clone)]
pub struct Judge {
    reporter: CarrierId,
    /// The carriers the reporter shares a channel with (`None`: any).
    partners: Option<Vec<CarrierId>>,
}

impl Judge {
    /// Judges for `reporter`, whose records may name `partners` as counterparty (`None`:
    /// any; see [`crate::BatchSink::counterparties`]).
    pub fn new(reporter: CarrierId, partners: Option<Vec<CarrierId>>) -> Self {
        Judge { reporter, partners }
    }

    /// The carrier whose rows these are.
    pub fn reporter(&self) -> CarrierId {
        self.reporter
    }

    /// SPEC §2.4's `bad_carrier` for a valid record whose counterparty the reporter shares
    /// no channel with: nothing could ever state it.
    pub fn stated(&self, counterparty: CarrierId) -> Result<CarrierId, RejectReason> {
        match &self.partners {
            Some(p) => with_channel(counterparty, p.contains(&counterparty)),
            None => Ok(counterparty),
        }
    }

    /// A record the reader accepted (it has checked that the reporter is one of its two
    /// carriers), judged against the reporter's channels and packed.
    pub fn record(&self, rec: &CdrView<'_>) -> Result<Record, RejectReason> {
        let counterparty = self.stated(rec.usage.counterparty(self.reporter))?;
        let mut bytes = Vec::with_capacity(48);
        packed::push_record(&mut bytes, rec, self.reporter, counterparty);
        Ok(Record {
            counterparty,
            form: BatchForm::Packed,
            bytes,
        })
    }

    /// A message judged by `settlement::cdr::message` (counterparty and native line),
    /// judged against the reporter's channels.
    pub fn message(
        &self,
        judged: settlement::cdr::message::Judged,
    ) -> Result<Record, RejectReason> {
        let (counterparty, line) = judged?;
        Ok(Record {
            counterparty: self.stated(counterparty)?,
            form: BatchForm::Csv,
            bytes: line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CarrierId {
        CarrierId::parse(s).unwrap()
    }

    #[test]
    fn a_counterparty_without_a_channel_is_bad_carrier() {
        let judge = Judge::new(c("alpha"), Some(vec![c("beta")]));
        assert_eq!(judge.stated(c("beta")), Ok(c("beta")));
        assert_eq!(judge.stated(c("gamma")), Err(RejectReason::BadCarrier));
        assert_eq!(
            judge.message(Ok((c("gamma"), b"x\n".to_vec()))),
            Err(RejectReason::BadCarrier)
        );
        assert_eq!(
            judge.message(Err(RejectReason::BadRow)),
            Err(RejectReason::BadRow)
        );
        let any = Judge::new(c("alpha"), None);
        assert_eq!(any.stated(c("gamma")), Ok(c("gamma")));
    }

    #[test]
    fn within_fewer_channels_a_record_for_another_is_bad_carrier() {
        let judged = |verdict| Judged { origin: 7, verdict };
        let record = |to: &str| Record {
            counterparty: c(to),
            form: BatchForm::Csv,
            bytes: b"x\n".to_vec(),
        };
        let only_beta = |p: &CarrierId| *p == c("beta");
        assert_eq!(
            judged(Ok(record("beta"))).within(only_beta).verdict,
            Ok(record("beta"))
        );
        assert_eq!(
            judged(Ok(record("gamma"))).within(only_beta).verdict,
            Err(RejectReason::BadCarrier)
        );
        // A reject stays what it was.
        assert_eq!(
            judged(Err(RejectReason::BadRow)).within(only_beta).verdict,
            Err(RejectReason::BadRow)
        );
    }
}
