//! Fabric's block cutting rules, as a pure state machine the orderer drives.

/// Groups ordered envelopes into batches by count and size; the batch timeout is the
/// caller's (it calls `cut` when the timer fires). An envelope is its bytes, or anything
/// that carries them (`T`).
pub struct BlockCutter<T = Vec<u8>> {
    max_message_count: usize,
    preferred_max_bytes: usize,
    pending: Vec<T>,
    pending_bytes: usize,
}

impl<T: AsRef<[u8]>> BlockCutter<T> {
    /// A cutter with Fabric's `MaxMessageCount` and `PreferredMaxBytes`.
    pub fn new(max_message_count: u32, preferred_max_bytes: u32) -> Self {
        BlockCutter {
            max_message_count: max_message_count.max(1) as usize,
            preferred_max_bytes: preferred_max_bytes as usize,
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// Adds an envelope and returns the batches it caused to be cut (zero, one or two).
    /// An `isolated` envelope (a configuration update) always gets a batch of its own.
    pub fn ordered(&mut self, env: T, isolated: bool) -> Vec<Vec<T>> {
        let mut out = Vec::new();
        let size = env.as_ref().len();
        if isolated || size > self.preferred_max_bytes {
            if !self.pending.is_empty() {
                out.push(self.cut());
            }
            out.push(vec![env]);
            return out;
        }
        if self.pending_bytes + size > self.preferred_max_bytes {
            out.push(self.cut());
        }
        self.pending.push(env);
        self.pending_bytes += size;
        if self.pending.len() >= self.max_message_count {
            out.push(self.cut());
        }
        out
    }

    /// Cuts whatever is pending.
    pub fn cut(&mut self) -> Vec<T> {
        self.pending_bytes = 0;
        std::mem::take(&mut self.pending)
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::BlockCutter;

    #[test]
    fn cuts_on_count() {
        let mut c = BlockCutter::new(2, 1000);
        assert!(c.ordered(vec![1; 10], false).is_empty());
        let b = c.ordered(vec![2; 10], false);
        assert_eq!(b, vec![vec![vec![1; 10], vec![2; 10]]]);
        assert!(c.is_empty());
    }

    #[test]
    fn cuts_before_exceeding_preferred_bytes() {
        let mut c = BlockCutter::new(10, 25);
        assert!(c.ordered(vec![1; 10], false).is_empty());
        assert!(c.ordered(vec![2; 10], false).is_empty());
        let b = c.ordered(vec![3; 10], false);
        assert_eq!(b, vec![vec![vec![1; 10], vec![2; 10]]]);
        assert_eq!(c.cut(), vec![vec![3; 10]]);
    }

    #[test]
    fn oversized_and_isolated_envelopes_stand_alone() {
        let mut c = BlockCutter::new(10, 25);
        assert!(c.ordered(vec![1; 5], false).is_empty());
        let b = c.ordered(vec![9; 30], false);
        assert_eq!(b, vec![vec![vec![1; 5]], vec![vec![9; 30]]]);
        let b = c.ordered(vec![7; 3], true);
        assert_eq!(b, vec![vec![vec![7; 3]]]);
        assert!(c.is_empty());
    }

    /// With a network's default parameters, a transaction of a CDR batch (5,000 records,
    /// about 1 MB) is cut into a block as soon as it is ordered, while small transactions
    /// still share blocks.
    #[test]
    fn by_default_a_batch_of_records_is_not_kept_waiting() {
        let p = crate::network::OrdererParams::default();
        let mut c = BlockCutter::new(p.max_message_count, p.preferred_max_bytes);
        assert!(c.ordered(vec![1; 2_000], false).is_empty());
        let b = c.ordered(vec![2; 1 << 20], false);
        assert_eq!(b, vec![vec![vec![1; 2_000]], vec![vec![2; 1 << 20]]]);
        assert!(c.is_empty());
    }
}
