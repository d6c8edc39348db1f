//! Next-boot-once assignments in flight. The data plane uses one up where it serves it, by
//! marking the assignment's [`OnceToken`]; here each pending assignment keeps one token,
//! handed to every boot policy built until the use is recorded. So a republish in between
//! cannot serve the assignment again, and the lossy event channel plays no part: the
//! coordinator collects used tokens itself.

use std::collections::HashMap;

use dataplane::{Mac, OnceToken};

/// The token of each client's pending next-boot-once image.
#[derive(Debug, Default)]
pub struct OnceTokens {
    pending: HashMap<Mac, (String, OnceToken)>,
}

impl OnceTokens {
    /// The token for `mac`'s once-assignment of `image`: the one already handed out, or a
    /// fresh one when the assignment is new or names another image.
    pub fn token(&mut self, mac: Mac, image: &str) -> OnceToken {
        let entry = self
            .pending
            .entry(mac)
            .or_insert_with(|| (image.to_owned(), OnceToken::new()));
        if entry.0 != image {
            *entry = (image.to_owned(), OnceToken::new());
        }
        entry.1.clone()
    }

    /// Keeps only the tokens of assignments `still_pending` confirms (mac, image).
    pub fn retain(&mut self, mut still_pending: impl FnMut(Mac, &str) -> bool) {
        self.pending
            .retain(|mac, (image, _)| still_pending(*mac, image));
    }

    /// The assignments the data plane has served since the last call, as (mac, image); their
    /// tokens are forgotten.
    pub fn take_used(&mut self) -> Vec<(Mac, String)> {
        let used: Vec<Mac> = self
            .pending
            .iter()
            .filter(|(_, (_, token))| token.is_used())
            .map(|(mac, _)| *mac)
            .collect();
        used.into_iter()
            .filter_map(|mac| Some((mac, self.pending.remove(&mac)?.0)))
            .collect()
    }

    /// True when no once-assignment is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::{Asker, BootPolicy, ClientScript, ScriptServed, Use};

    #[test]
    fn a_token_lives_until_its_use_is_taken() {
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        let mut tokens = OnceTokens::default();
        let first = tokens.token(mac, "fedora");
        let mut policy = BootPolicy::new("menu".into());
        let script = ClientScript {
            script: "once".into(),
            image: "fedora".into(),
        };
        policy.assign_once(mac, script.clone(), first);
        assert!(tokens.take_used().is_empty());
        let served = policy.script_for(Asker::Machine(mac), None, Use::Consume).1;
        assert_eq!(
            served,
            ScriptServed::Image {
                id: "fedora".into(),
                once: true
            }
        );
        // Rebuilt before the use was taken: the same, used token.
        let mut rebuilt = BootPolicy::new("menu".into());
        rebuilt.assign_once(mac, script, tokens.token(mac, "fedora"));
        let again = rebuilt
            .script_for(Asker::Machine(mac), None, Use::Consume)
            .1;
        assert_eq!(again, ScriptServed::Menu);
        assert_eq!(tokens.take_used(), vec![(mac, "fedora".to_owned())]);
        assert!(tokens.take_used().is_empty() && tokens.is_empty());
        // Another image, or an assignment given anew after its use, gets a fresh token.
        let debian = tokens.token(mac, "debian");
        assert!(!tokens.token(mac, "fedora").is_used());
        assert!(!debian.is_used());
        tokens.retain(|_, _| false);
        assert!(tokens.is_empty());
    }
}
