//! Which exchange gets which fault.

use std::time::Duration;

/// What goes wrong with one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward the request at once, hold the answer this long: a slow service (the request
    /// is applied; the answer is late).
    Delay(Duration),
    /// Swallow the request and never answer: the service hangs before it sees anything.
    Hang,
    /// Forward the request, swallow the answer: applied, and the answer never comes.
    HangAfterForward,
    /// Reset the connection (RST) as soon as the request arrives; nothing reaches the service.
    Reset,
    /// Forward the request, then reset instead of answering: applied, then cut.
    ResetAfterForward,
}

impl Fault {
    /// Whether the request reaches the service at all.
    pub fn lands(self) -> bool {
        !matches!(self, Fault::Hang | Fault::Reset)
    }
}

/// Which exchanges a fault applies to. Counting starts when the fault is injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Only exchanges with this `X-Amz-Target`; `None` for all.
    target: Option<String>,
    /// Only the nth matching exchange (1-based); `None` for every one.
    nth: Option<usize>,
}

impl Trigger {
    /// Every exchange from now on.
    pub fn always() -> Trigger {
        Trigger {
            target: None,
            nth: None,
        }
    }

    /// The next exchange only.
    pub fn once() -> Trigger {
        Trigger {
            target: None,
            nth: Some(1),
        }
    }

    /// Every exchange whose `X-Amz-Target` is `target` (see [`super::target`]).
    pub fn every(target: &str) -> Trigger {
        Trigger {
            target: Some(target.to_owned()),
            nth: None,
        }
    }

    /// Only the `n`th (1-based) exchange from now whose `X-Amz-Target` is `target`: e.g. the
    /// first UpdateItem after a PutItem and a SendMessage went through.
    pub fn nth(target: &str, n: usize) -> Trigger {
        Trigger {
            target: Some(target.to_owned()),
            nth: Some(n.max(1)),
        }
    }
}

/// One injected fault and how many exchanges its trigger has matched.
#[derive(Debug)]
struct Rule {
    fault: Fault,
    trigger: Trigger,
    matched: usize,
}

impl Rule {
    fn spent(&self) -> bool {
        self.trigger.nth.is_some_and(|n| self.matched >= n)
    }
}

/// The injected faults, in injection order.
#[derive(Debug, Default)]
pub(super) struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    pub(super) fn inject(&mut self, fault: Fault, trigger: Trigger) {
        self.rules.push(Rule {
            fault,
            trigger,
            matched: 0,
        });
    }

    pub(super) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault for the next exchange, whose target is `target`: every rule counts the
    /// exchanges it matches, and the first that fires wins. Spent rules are dropped.
    pub(super) fn next(&mut self, target: &str) -> Option<Fault> {
        let mut chosen = None;
        for rule in &mut self.rules {
            if rule
                .trigger
                .target
                .as_deref()
                .is_some_and(|wanted| wanted != target)
            {
                continue;
            }
            rule.matched += 1;
            let fires = rule.trigger.nth.is_none_or(|n| rule.matched == n);
            if fires && chosen.is_none() {
                chosen = Some(rule.fault);
            }
        }
        self.rules.retain(|rule| !rule.spent());
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_of_a_target_fires_once_on_that_exchange() {
        let mut rules = Rules::default();
        rules.inject(Fault::Reset, Trigger::nth("T.Update", 2));
        let seen: Vec<_> = ["T.Put", "T.Update", "T.Send", "T.Update", "T.Update"]
            .iter()
            .map(|target| rules.next(target))
            .collect();
        assert_eq!(seen, [None, None, None, Some(Fault::Reset), None]);
        assert!(rules.rules.is_empty(), "a spent rule is dropped");
    }

    #[test]
    fn once_fires_on_the_next_exchange_and_always_on_every_one() {
        let mut rules = Rules::default();
        rules.inject(Fault::Hang, Trigger::once());
        rules.inject(Fault::Delay(Duration::from_millis(5)), Trigger::always());
        assert_eq!(rules.next("a"), Some(Fault::Hang));
        assert_eq!(
            rules.next("b"),
            Some(Fault::Delay(Duration::from_millis(5)))
        );
        assert_eq!(
            rules.next("c"),
            Some(Fault::Delay(Duration::from_millis(5)))
        );
        rules.clear();
        assert_eq!(rules.next("d"), None);
    }

    #[test]
    fn every_of_a_target_leaves_other_targets_alone() {
        let mut rules = Rules::default();
        rules.inject(Fault::ResetAfterForward, Trigger::every("T.Update"));
        assert_eq!(rules.next("T.Put"), None);
        assert_eq!(rules.next("T.Update"), Some(Fault::ResetAfterForward));
        assert_eq!(rules.next("T.Update"), Some(Fault::ResetAfterForward));
    }
}
