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
    /// The token for `mac`'s once-assignment of `image` in a policy being built, `self` being
    /// its set: the one `last` (the served policy's set) holds when it names the same image,
    /// else a fresh one. Tokens the new policy does not ask for are dropped with `last`.
    pub fn carry(&mut self, last: &mut OnceTokens, mac: Mac, image: &str) -> OnceToken {
        let token = match last.pending.remove(&mac) {
            Some((same, token)) if same == image => token,
            _ => OnceToken::new(),
        };
        self.pending.insert(mac, (image.to_owned(), token.clone()));
        token
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
        let script = ClientScript {
            script: "once".into(),
            image: "fedora".into(),
        };
        // Builds a policy with a once-assignment of `image`, as the coordinator does.
        let build = |tokens: &mut OnceTokens, image: &str| {
            let mut last = std::mem::take(tokens);
            let mut policy = BootPolicy::new("menu".into());
            policy.assign_once(mac, script.clone(), tokens.carry(&mut last, mac, image));
            policy
        };
        let mut tokens = OnceTokens::default();
        let policy = build(&mut tokens, "fedora");
        assert!(tokens.take_used().is_empty());
        let served = policy.script_for(Asker::Machine(mac), None, Use::Consume).1;
        let once = ScriptServed::Image {
            id: "fedora".into(),
            once: true,
        };
        assert_eq!(served, once);
        // Rebuilt before the use was taken: the same, used token.
        let rebuilt = build(&mut tokens, "fedora");
        let again = rebuilt
            .script_for(Asker::Machine(mac), None, Use::Consume)
            .1;
        assert_eq!(again, ScriptServed::Menu);
        assert_eq!(tokens.take_used(), vec![(mac, "fedora".to_owned())]);
        assert!(tokens.take_used().is_empty() && tokens.is_empty());
        // Given anew after its use, or naming another image: a fresh token.
        let anew = build(&mut tokens, "fedora");
        assert_eq!(
            anew.script_for(Asker::Machine(mac), None, Use::Peek).1,
            once
        );
        let other = build(&mut tokens, "debian");
        assert_eq!(
            other.script_for(Asker::Machine(mac), None, Use::Consume).1,
            once
        );
    }
}
