//! A message on the control socket (`cli::served`, `cli::control`) and the bytes it carries:
//! its head, one JSON line that also gives the length of each attachment, then the
//! attachments as they are. A contract call's arguments and its reply are encoded bytes
//! (a batch of records is megabytes); they travel beside the JSON, never inside it as text.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncReadExt as _, AsyncWrite, AsyncWriteExt};

/// The JSON line of a message.
#[derive(Serialize, serde::Deserialize)]
struct Head<T> {
    message: T,
    /// The length of each attachment, in order.
    #[serde(default)]
    attached: Vec<u64>,
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed or ended inside the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The bytes are not a message: what is wrong with them.
    #[error("{0}")]
    Malformed(String),
}

/// Writes `message` and its `attached` bytes.
pub async fn write<W: AsyncWrite + Unpin, T: Serialize, A: AsRef<[u8]>>(
    w: &mut W,
    message: &T,
    attached: &[A],
) -> std::io::Result<()> {
    let head = Head {
        message,
        attached: attached.iter().map(|a| a.as_ref().len() as u64).collect(),
    };
    let mut line = serde_json::to_vec(&head).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    for a in attached {
        w.write_all(a.as_ref()).await?;
    }
    w.flush().await
}

/// Reads one message whose head line and whose attachments together are each at most
/// `limit` bytes; `None` when the stream ends before it starts.
pub async fn read<R: AsyncBufRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    limit: usize,
) -> Result<Option<(T, Vec<Vec<u8>>)>, FrameError> {
    let mut line = Vec::new();
    let n = (&mut *r)
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(FrameError::Malformed(format!(
            "a message's head longer than {limit} bytes, or cut short"
        )));
    }
    let head: Head<T> = serde_json::from_slice(&line)
        .map_err(|e| FrameError::Malformed(format!("not a message: {e}")))?;
    let within = head
        .attached
        .iter()
        .try_fold(0u64, |sum, &len| sum.checked_add(len))
        .is_some_and(|total| total <= limit as u64);
    if !within {
        return Err(FrameError::Malformed(format!(
            "attachments of {:?} bytes, more than {limit} in all",
            head.attached
        )));
    }
    let mut attached = Vec::with_capacity(head.attached.len());
    for &len in &head.attached {
        // Within `limit` in all, checked above.
        let mut bytes = vec![0; len as usize];
        r.read_exact(&mut bytes).await?;
        attached.push(bytes);
    }
    Ok(Some((head.message, attached)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Note {
        what: String,
    }

    async fn round_trip(
        attached: &[&[u8]],
        limit: usize,
    ) -> Result<(Note, Vec<Vec<u8>>), FrameError> {
        let mut buf = Vec::new();
        let note = Note {
            what: "usage.submit".into(),
        };
        write(&mut buf, &note, attached).await.unwrap();
        read(&mut buf.as_slice(), limit).await.map(|m| m.unwrap())
    }

    /// Why `bytes` are not a message, read with `limit`.
    async fn refusal(bytes: &[u8], limit: usize) -> FrameError {
        let mut r = bytes;
        read::<_, Note>(&mut r, limit).await.unwrap_err()
    }

    /// Whether `err` says the bytes are malformed, in words containing `why`.
    fn malformed(err: &FrameError, why: &str) -> bool {
        matches!(err, FrameError::Malformed(m) if m.contains(why))
    }

    #[tokio::test]
    async fn a_message_and_its_attachments_read_back_as_written() {
        let big = vec![0xA5; 70_000];
        let (note, attached) = round_trip(&[b"", b"\n{not json", &big], 1 << 20)
            .await
            .unwrap();
        assert_eq!(note.what, "usage.submit");
        assert_eq!(attached, vec![Vec::new(), b"\n{not json".to_vec(), big]);
        // Two messages one after the other on one stream stay apart.
        let mut buf = Vec::new();
        for what in ["a", "b"] {
            write(&mut buf, &Note { what: what.into() }, &[what])
                .await
                .unwrap();
        }
        let mut r = buf.as_slice();
        for what in ["a", "b"] {
            let (note, attached): (Note, _) = read(&mut r, 100).await.unwrap().unwrap();
            assert_eq!(
                (note.what.as_str(), attached),
                (what, vec![what.as_bytes().to_vec()])
            );
        }
        assert!(read::<_, Note>(&mut r, 100).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn attachments_beyond_the_limit_are_refused_before_they_are_read() {
        let err = round_trip(&[&[1; 600], &[2; 600]], 1000).await.unwrap_err();
        assert!(malformed(&err, "more than 1000"), "{err}");
        // Lengths that overflow when added are refused, not wrapped.
        let line = format!(
            "{{\"message\":{{\"what\":\"x\"}},\"attached\":[{},{}]}}\n",
            u64::MAX,
            2
        );
        let err = refusal(line.as_bytes(), 1000).await;
        assert!(malformed(&err, "more than 1000"), "{err}");
    }

    #[tokio::test]
    async fn a_head_too_long_cut_short_or_not_json_is_malformed_and_short_attachments_an_io_error()
    {
        let long = format!("{{\"message\":{{\"what\":\"{}\"}}}}\n", "x".repeat(200));
        for (bytes, why) in [
            (long.as_bytes(), "longer than 100"),
            (&b"{\"message\":"[..], "cut short"),
            (&b"usage.submit\n"[..], "not a message"),
        ] {
            let err = refusal(bytes, 100).await;
            assert!(malformed(&err, why), "{err}");
        }
        let err = refusal(
            b"{\"message\":{\"what\":\"x\"},\"attached\":[10]}\nabc",
            100,
        )
        .await;
        assert!(
            matches!(&err, FrameError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
            "{err}"
        );
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    proptest::proptest! {
        /// Any attachments read back as written, whatever their bytes.
        #[test]
        fn any_attachments_round_trip(attached in proptest::collection::vec(
            proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..5)) {
            let slices: Vec<&[u8]> = attached.iter().map(Vec::as_slice).collect();
            let (_, back) = block_on(round_trip(&slices, 2000)).unwrap();
            proptest::prop_assert_eq!(back, attached);
        }

        /// Any bytes at all are a message, an error, or nothing; never a panic, never more
        /// attachments than the limit.
        #[test]
        fn any_bytes_read_or_are_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            if let Ok(Some((_, attached))) = block_on(read::<_, Note>(&mut bytes.as_slice(), 100)) {
                proptest::prop_assert!(attached.iter().map(Vec::len).sum::<usize>() <= 100);
            }
        }
    }
}
