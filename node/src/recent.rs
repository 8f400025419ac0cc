//! Answers of another node that change rarely, kept for a moment: a client's gateway asks a
//! peer for a contract's endorsement policy and the channel's size limit before every
//! proposal, and over gRPC those two questions cost as much as the proposal's own round trip.
//!
//! A kept answer can be up to its age stale, and only where that is harmless: the policy
//! only chooses whose endorsements to gather (validation enforces the one in force when the
//! block commits), and the size limit only refuses early what the ordering service refuses
//! anyway. Only answers that name something are kept: "not defined" is asked again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Answers by question, each kept for `ttl`.
#[derive(Debug)]
pub(crate) struct Recent<V> {
    ttl: Duration,
    answers: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> Recent<V> {
    /// Keeps each answer for `ttl` (zero: none).
    pub fn new(ttl: Duration) -> Self {
        Recent {
            ttl,
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// The answer to `question` if it is younger than the time kept.
    pub fn get(&self, question: &str) -> Option<V> {
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers
            .get(question)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Keeps `answer` to `question`, from now.
    pub fn put(&self, question: &str, answer: V) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.insert(question.to_string(), (Instant::now(), answer));
    }

    /// `answer` to `question`: the kept one if young enough, else `ask`'s, kept if it names
    /// something.
    pub async fn or_ask<E, F>(&self, question: &str, ask: F) -> Result<Option<V>, E>
    where
        F: std::future::Future<Output = Result<Option<V>, E>>,
    {
        if let Some(v) = self.get(question) {
            return Ok(Some(v));
        }
        let answer = ask.await?;
        if let Some(v) = &answer {
            self.put(question, v.clone());
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ask(recent: &Recent<u32>, asked: &mut u32, answer: Option<u32>) -> Option<u32> {
        recent
            .or_ask("q", async {
                *asked += 1;
                Ok::<_, ()>(answer)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_answer_is_kept_for_its_time_and_not_defined_is_asked_again() {
        let kept = Recent::new(Duration::from_secs(3600));
        let mut asked = 0;
        assert_eq!(ask(&kept, &mut asked, None).await, None);
        assert_eq!(ask(&kept, &mut asked, None).await, None);
        assert_eq!(asked, 2, "not defined is never kept");
        assert_eq!(ask(&kept, &mut asked, Some(7)).await, Some(7));
        assert_eq!(ask(&kept, &mut asked, Some(8)).await, Some(7));
        assert_eq!(asked, 3, "the second question was answered from memory");

        let none = Recent::new(Duration::ZERO);
        let mut asked = 0;
        assert_eq!(ask(&none, &mut asked, Some(7)).await, Some(7));
        assert_eq!(ask(&none, &mut asked, Some(8)).await, Some(8));
        assert_eq!(
            asked, 2,
            "an answer older than the time kept is asked again"
        );
    }
}
