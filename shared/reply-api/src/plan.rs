//! The plan: which subscriptions Reply should have for one deployment, compared with what it
//! has. Pure: no I/O, so every case is a unit test; `subscribe` and the watchdog both act on
//! its result (see [`crate::sync`]).
//!
//! A subscription is **ours** when its URL, query string aside, is one of our three route
//! URLs: that survives a token rotation and a subscription pointed at the wrong route. Others
//! are never touched. For each planned event type the plan keeps one of ours (the one closest
//! to the plan) and calls any further one for that type a duplicate; ours for types outside
//! the plan are stale.

use std::fmt;

use reply_payload::{Category, EventType};
use url::Url;

use crate::model::{PayloadConfig, Scope, Subscription, SubscriptionId, SubscriptionSpec};

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the {category} URL {url:?} is not an absolute http(s) URL")]
    BadUrl { category: Category, url: String },
    #[error(
        "the {category} URL must not carry a query string (give the route URL; the token is added from the token option)"
    )]
    UrlWithQuery { category: Category },
    #[error("the webhook token is empty or holds a space or comma: give exactly one token")]
    BadToken,
    #[error("{0:?} is not an event type this version knows; known: {known}", known = known_names())]
    UnknownEventType(String),
    #[error("{0:?} is not a scope: use personal or team")]
    BadScope(String),
}

fn known_names() -> String {
    EventType::KNOWN
        .iter()
        .map(EventType::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The event types to subscribe: a comma-separated list of known names in any spelling, or
/// empty / `all` for all of them. Returned once each, in the order of [`EventType::KNOWN`].
pub fn parse_event_types(list: &str) -> Result<Vec<EventType>, PlanError> {
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() || names == ["all"] {
        return Ok(EventType::KNOWN.to_vec());
    }
    let mut wanted = Vec::new();
    for name in names {
        match EventType::parse(name) {
            EventType::Unknown(raw) => return Err(PlanError::UnknownEventType(raw)),
            known => wanted.push(known),
        }
    }
    Ok(EventType::KNOWN
        .into_iter()
        .filter(|t| wanted.contains(t))
        .collect())
}

/// `personal` or `team`, in any case.
pub fn parse_scope(raw: &str) -> Result<Scope, PlanError> {
    match raw.parse::<Scope>() {
        Ok(Scope::Other(_)) | Err(_) => Err(PlanError::BadScope(raw.trim().to_owned())),
        Ok(scope) => Ok(scope),
    }
}

/// The token our functions accept, as it goes into each subscription URL. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookToken(String);

impl WebhookToken {
    pub fn new(token: &str) -> Result<WebhookToken, PlanError> {
        let token = token.trim();
        if token.is_empty() || token.contains(|c: char| c == ',' || c.is_whitespace()) {
            return Err(PlanError::BadToken);
        }
        Ok(WebhookToken(token.to_owned()))
    }
}

impl fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookToken(***)")
    }
}

/// The URLs our three functions listen on, without a token.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// In the order of [`Category::ALL`].
    urls: [Url; 3],
}

impl Endpoints {
    /// The route URL of each category (e.g. a stack's `EmailWebhookUrl` output).
    pub fn new(url_of: impl Fn(Category) -> String) -> Result<Endpoints, PlanError> {
        let parse = |category: Category| {
            let raw = url_of(category);
            let url = Url::parse(raw.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                .ok_or(PlanError::BadUrl { category, url: raw })?;
            if url.query().is_some() {
                return Err(PlanError::UrlWithQuery { category });
            }
            Ok(url)
        };
        Ok(Endpoints {
            urls: [
                parse(Category::Email)?,
                parse(Category::Linkedin)?,
                parse(Category::Account)?,
            ],
        })
    }

    pub fn url(&self, category: Category) -> &Url {
        let index = Category::ALL
            .iter()
            .position(|c| *c == category)
            .unwrap_or_default();
        &self.urls[index]
    }

    /// The category whose route `url` points at, query string and fragment aside (so any
    /// token matches), or `None` when it is not one of ours.
    pub fn route_of(&self, url: &str) -> Option<Category> {
        let url = Url::parse(url.trim()).ok()?;
        Category::ALL
            .into_iter()
            .find(|category| same_route(&url, self.url(*category)))
    }

    /// The subscription URL of `category`: its route with `?token=`.
    fn subscription_url(&self, category: Category, token: &WebhookToken) -> Url {
        let mut url = self.url(category).clone();
        url.query_pairs_mut().append_pair("token", &token.0);
        url
    }
}

fn same_route(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
}

/// What every subscription of the plan is given besides its event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    pub event_types: Vec<EventType>,
    pub scope: Scope,
    /// Adds the reply's text to email deliveries: prospect content that then sits in the
    /// queue, so off unless asked for.
    pub include_email_text: bool,
}

/// The subscriptions one deployment should have in Reply.
#[derive(Debug, Clone)]
pub struct Plan {
    endpoints: Endpoints,
    token: WebhookToken,
    options: PlanOptions,
}

/// How a subscription of ours differs from the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    /// Points at another category's route.
    Route,
    /// Carries another token (or none, or several).
    Token,
    /// Same route and token, but other differences in the URL (extra parameters).
    Url,
    Scope,
    PayloadConfig,
}

impl Difference {
    pub fn as_str(self) -> &'static str {
        match self {
            Difference::Route => "route",
            Difference::Token => "token",
            Difference::Url => "url",
            Difference::Scope => "scope",
            Difference::PayloadConfig => "payload options",
        }
    }
}

/// Why a subscription of ours is not part of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    /// Its event type is not planned.
    NotPlanned,
    /// Another of ours for the same event type was kept: each event would arrive twice.
    Duplicate,
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The canonical name for a planned type; Reply's spelling for a stale one.
    pub event_type: String,
    /// The route the subscription points at (or, when missing, will point at).
    pub route: Option<Category>,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Planned, and none of ours exists.
    Missing { spec: SubscriptionSpec },
    /// Planned, and this one of ours is kept.
    Present {
        id: SubscriptionId,
        enabled: bool,
        differences: Vec<Difference>,
        spec: SubscriptionSpec,
    },
    /// Ours, but not part of the plan.
    Stale {
        id: SubscriptionId,
        reason: StaleReason,
    },
}

/// How far to go in making Reply match: `subscribe` may update and (with `--prune`) delete;
/// the watchdog only re-enables and recreates, leaving edits to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub update: bool,
    pub prune: bool,
}

impl Policy {
    pub const REPAIR: Policy = Policy {
        update: false,
        prune: false,
    };
}

/// A call that brings Reply closer to the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create(SubscriptionSpec),
    Update(SubscriptionId, SubscriptionSpec),
    Enable(SubscriptionId),
    Delete(SubscriptionId),
}

impl Entry {
    /// The calls this entry needs under `policy`, in order (an update before enabling).
    pub fn actions(&self, policy: Policy) -> Vec<Action> {
        match &self.state {
            State::Missing { spec } => vec![Action::Create(spec.clone())],
            State::Present {
                id,
                enabled,
                differences,
                spec,
            } => {
                let mut actions = Vec::new();
                if policy.update && !differences.is_empty() {
                    actions.push(Action::Update(id.clone(), spec.clone()));
                }
                if !enabled {
                    actions.push(Action::Enable(id.clone()));
                }
                actions
            }
            State::Stale { id, .. } if policy.prune => vec![Action::Delete(id.clone())],
            State::Stale { .. } => Vec::new(),
        }
    }

    /// The subscription this entry is about, when one exists.
    pub fn subscription(&self) -> Option<&SubscriptionId> {
        match &self.state {
            State::Missing { .. } => None,
            State::Present { id, .. } | State::Stale { id, .. } => Some(id),
        }
    }
}

/// The plan against Reply's subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciliation {
    /// Planned types in plan order, then stale subscriptions in Reply's order.
    pub entries: Vec<Entry>,
    /// Subscriptions that are not ours (left alone).
    pub others: usize,
}

impl Reconciliation {
    /// Whether Reply already matches the plan under `policy`: nothing to call.
    pub fn matches(&self, policy: Policy) -> bool {
        self.entries.iter().all(|e| e.actions(policy).is_empty())
    }
}

impl Plan {
    pub fn new(endpoints: Endpoints, token: WebhookToken, options: PlanOptions) -> Plan {
        Plan {
            endpoints,
            token,
            options,
        }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn options(&self) -> &PlanOptions {
        &self.options
    }

    pub fn event_types(&self) -> &[EventType] {
        &self.options.event_types
    }

    /// The payload options of every subscription: the email's link and the prospect's custom
    /// fields always (consumers need them to act), the email's text only when asked for.
    pub fn payload_config(&self) -> PayloadConfig {
        PayloadConfig {
            include_email_url: true,
            include_email_text: self.options.include_email_text,
            include_prospect_custom_fields: true,
        }
    }

    /// The subscription `event_type` should have. Unknown types are never planned; should one
    /// get here it goes to the email route, whose function accepts any type.
    pub fn spec(&self, event_type: &EventType) -> SubscriptionSpec {
        let category = event_type.category().unwrap_or(Category::Email);
        SubscriptionSpec {
            event_type: event_type.as_str().to_owned(),
            url: self
                .endpoints
                .subscription_url(category, &self.token)
                .into(),
            scope: self.options.scope.clone(),
            payload_config: self.payload_config(),
        }
    }

    /// Compares the plan with Reply's subscriptions.
    pub fn reconcile(&self, existing: &[Subscription]) -> Reconciliation {
        let ours: Vec<(&Subscription, Category, EventType)> = existing
            .iter()
            .filter_map(|s| {
                let route = self.endpoints.route_of(&s.url)?;
                Some((s, route, EventType::parse(&s.event_type)))
            })
            .collect();
        let mut kept: Vec<&SubscriptionId> = Vec::new();
        let mut entries = Vec::new();

        for event_type in &self.options.event_types {
            let spec = self.spec(event_type);
            let candidates = ours.iter().filter(|(_, _, t)| t == event_type);
            // The one closest to the plan: matching and enabled, then matching, then enabled;
            // the first in Reply's order among equals.
            let best = candidates.fold(
                None,
                |best: Option<(&Subscription, Category, Vec<_>)>, (s, route, _)| {
                    let differences = self.differences(s, &spec);
                    let rank = |d: &Vec<Difference>, s: &Subscription| (d.is_empty(), s.enabled);
                    match best {
                        Some(b) if rank(&b.2, b.0) >= rank(&differences, s) => Some(b),
                        _ => Some((*s, *route, differences)),
                    }
                },
            );
            entries.push(match best {
                None => Entry {
                    event_type: event_type.as_str().to_owned(),
                    route: event_type.category(),
                    state: State::Missing { spec },
                },
                Some((subscription, route, differences)) => {
                    kept.push(&subscription.id);
                    Entry {
                        event_type: event_type.as_str().to_owned(),
                        route: Some(route),
                        state: State::Present {
                            id: subscription.id.clone(),
                            enabled: subscription.enabled,
                            differences,
                            spec,
                        },
                    }
                }
            });
        }

        for (subscription, route, event_type) in &ours {
            if kept.contains(&&subscription.id) {
                continue;
            }
            let reason = if self.options.event_types.contains(event_type) {
                StaleReason::Duplicate
            } else {
                StaleReason::NotPlanned
            };
            entries.push(Entry {
                event_type: subscription.event_type.clone(),
                route: Some(*route),
                state: State::Stale {
                    id: subscription.id.clone(),
                    reason,
                },
            });
        }
        Reconciliation {
            entries,
            others: existing.len() - ours.len(),
        }
    }

    /// How `existing` (one of ours, of the right type) differs from `spec`.
    fn differences(&self, existing: &Subscription, spec: &SubscriptionSpec) -> Vec<Difference> {
        let mut differences = Vec::new();
        match (Url::parse(existing.url.trim()), Url::parse(&spec.url)) {
            (Ok(have), Ok(want)) => {
                if self.endpoints.route_of(have.as_str()) != self.endpoints.route_of(want.as_str())
                {
                    differences.push(Difference::Route);
                } else if tokens(&have) != tokens(&want) {
                    differences.push(Difference::Token);
                } else if have != want {
                    differences.push(Difference::Url);
                }
            }
            _ => differences.push(Difference::Url),
        }
        if existing.scope.clone().unwrap_or(Scope::Personal) != spec.scope {
            differences.push(Difference::Scope);
        }
        if existing.payload_config != spec.payload_config {
            differences.push(Difference::PayloadConfig);
        }
        differences
    }
}

/// The `token` parameters of a URL.
fn tokens(url: &Url) -> Vec<String> {
    url.query_pairs()
        .filter(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "new-token-0000000001";
    const BASE: &str = "https://abc.execute-api.us-east-1.amazonaws.com";

    fn endpoints() -> Endpoints {
        Endpoints::new(|c| format!("{BASE}/webhooks/{}", c.as_str())).unwrap()
    }

    fn plan(types: &str) -> Plan {
        Plan::new(
            endpoints(),
            WebhookToken::new(TOKEN).unwrap(),
            PlanOptions {
                event_types: parse_event_types(types).unwrap(),
                scope: Scope::Team,
                include_email_text: false,
            },
        )
    }

    /// A subscription as Reply would list it, matching `plan` for `event_type` unless edited.
    fn existing(plan: &Plan, id: u64, event_type: &str) -> Subscription {
        let spec = plan.spec(&EventType::parse(event_type));
        Subscription {
            id: SubscriptionId::from(id),
            event_type: event_type.to_owned(),
            url: spec.url,
            scope: Some(spec.scope),
            enabled: true,
            payload_config: spec.payload_config,
            created_at: None,
        }
    }

    fn states(r: &Reconciliation) -> Vec<(&str, &State)> {
        r.entries
            .iter()
            .map(|e| (e.event_type.as_str(), &e.state))
            .collect()
    }

    const SUBSCRIBE: Policy = Policy {
        update: true,
        prune: false,
    };
    const PRUNE: Policy = Policy {
        update: true,
        prune: true,
    };

    #[test]
    fn event_type_lists_default_to_all_and_refuse_typos() {
        assert_eq!(parse_event_types("").unwrap().len(), 19);
        assert_eq!(parse_event_types(" all ").unwrap().len(), 19);
        assert_eq!(
            parse_event_types("EmailSent, email_replied,email_sent").unwrap(),
            [EventType::EmailReplied, EventType::EmailSent]
        );
        assert_eq!(
            parse_event_types("email_replied,emial_sent"),
            Err(PlanError::UnknownEventType("emial_sent".into()))
        );
        assert_eq!(parse_scope("TEAM"), Ok(Scope::Team));
        assert_eq!(
            parse_scope("organization"),
            Err(PlanError::BadScope("organization".into()))
        );
    }

    #[test]
    fn urls_and_tokens_are_checked() {
        assert!(matches!(
            Endpoints::new(|c| format!("{BASE}/webhooks/{}?token=x", c.as_str())),
            Err(PlanError::UrlWithQuery {
                category: Category::Email
            })
        ));
        assert!(matches!(
            Endpoints::new(|c| if c == Category::Account {
                "not a url".into()
            } else {
                format!("{BASE}/x")
            }),
            Err(PlanError::BadUrl {
                category: Category::Account,
                ..
            })
        ));
        for bad in ["", "a b", "a,b"] {
            assert_eq!(WebhookToken::new(bad), Err(PlanError::BadToken), "{bad:?}");
        }
        assert_eq!(
            format!("{:?}", WebhookToken::new(TOKEN).unwrap()),
            "WebhookToken(***)"
        );
    }

    #[test]
    fn specs_carry_the_route_of_the_category_and_the_token() {
        let plan = plan("all");
        let spec = plan.spec(&EventType::LinkedinMessageReplied);
        assert_eq!(spec.url, format!("{BASE}/webhooks/linkedin?token={TOKEN}"));
        assert_eq!(spec.event_type, "linkedin_message_replied");
        assert_eq!(spec.scope, Scope::Team);
        assert!(spec.payload_config.include_email_url);
        assert!(!spec.payload_config.include_email_text);
        assert!(spec.payload_config.include_prospect_custom_fields);
        assert_eq!(
            plan.spec(&EventType::AutopilotStopped).url,
            format!("{BASE}/webhooks/account?token={TOKEN}")
        );
    }

    #[test]
    fn an_empty_account_gets_every_planned_subscription() {
        let plan = plan("all");
        let r = plan.reconcile(&[]);
        assert_eq!(r.entries.len(), 19);
        let creates: Vec<_> = r
            .entries
            .iter()
            .flat_map(|e| e.actions(Policy::REPAIR))
            .collect();
        assert_eq!(creates.len(), 19);
        assert!(creates.iter().all(|a| matches!(a, Action::Create(_))));
        assert!(!r.matches(SUBSCRIBE));
    }

    #[test]
    fn a_matching_account_needs_nothing() {
        let plan = plan("all");
        let existing: Vec<_> = EventType::KNOWN
            .iter()
            .zip(1..)
            .map(|(t, id)| existing(&plan, id, t.as_str()))
            .collect();
        let r = plan.reconcile(&existing);
        assert!(r.matches(PRUNE), "{r:?}");
        assert_eq!(r.others, 0);
    }

    #[test]
    fn differences_are_named_and_updated_only_when_allowed() {
        let plan = plan("email_replied,email_sent,email_opened,linkedin_message_sent");
        let mut old_token = existing(&plan, 1, "email_replied");
        old_token.url = format!("{BASE}/webhooks/email?token=old-token-00000000001");
        old_token.scope = Some(Scope::Personal);
        let mut wrong_route = existing(&plan, 2, "EmailSent");
        wrong_route.url = format!("{BASE}/webhooks/account?token={TOKEN}");
        let mut payload = existing(&plan, 3, "email_opened");
        payload.payload_config.include_email_text = true;
        payload.enabled = false;
        let mut lower_scope = existing(&plan, 4, "linkedin_message_sent");
        lower_scope.scope = Some("team".parse().unwrap());
        let r = plan.reconcile(&[old_token, wrong_route, payload, lower_scope]);
        let differences: Vec<_> = r
            .entries
            .iter()
            .map(|e| match &e.state {
                State::Present { differences, .. } => differences.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            differences,
            [
                vec![Difference::Token, Difference::Scope],
                vec![Difference::Route],
                vec![Difference::PayloadConfig],
                vec![],
            ]
        );
        assert_eq!(
            r.entries[1].route,
            Some(Category::Account),
            "where it points now"
        );
        let update = r.entries[2].actions(SUBSCRIBE);
        assert_eq!(update.len(), 2);
        assert!(
            matches!(&update[0], Action::Update(id, spec) if id.as_str() == "3" && !spec.payload_config.include_email_text)
        );
        assert_eq!(update[1], Action::Enable(SubscriptionId::from(3)));
        assert_eq!(
            r.entries[2].actions(Policy::REPAIR),
            [Action::Enable(SubscriptionId::from(3))],
            "the watchdog re-enables but does not edit"
        );
        assert!(r.entries[0].actions(Policy::REPAIR).is_empty());
    }

    #[test]
    fn stale_and_duplicate_subscriptions_go_only_with_prune_and_others_are_never_touched() {
        let plan = plan("email_replied");
        let keep = existing(&plan, 10, "email_replied");
        let mut duplicate = existing(&plan, 11, "email_replied");
        duplicate.url = format!("{BASE}/webhooks/email?token=old-token-00000000001");
        let not_planned = existing(&plan, 12, "email_sent");
        let mut unknown_type = existing(&plan, 13, "email_replied");
        unknown_type.event_type = "meeting_booked".into();
        let mut foreign = existing(&plan, 14, "email_replied");
        foreign.url = "https://hooks.example.com/reply?token=theirs".into();
        let mut other_host = existing(&plan, 15, "email_replied");
        other_host.url = format!("https://other.example.com/webhooks/email?token={TOKEN}");

        let r = plan.reconcile(&[
            duplicate,
            keep,
            not_planned,
            unknown_type,
            foreign,
            other_host,
        ]);
        assert_eq!(r.others, 2);
        let summary: Vec<_> = states(&r)
            .into_iter()
            .map(|(t, s)| match s {
                State::Present { id, .. } => format!("{t} keep {id}"),
                State::Stale { id, reason } => format!("{t} stale {id} {reason:?}"),
                State::Missing { .. } => format!("{t} missing"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "email_replied keep 10",
                "email_replied stale 11 Duplicate",
                "email_sent stale 12 NotPlanned",
                "meeting_booked stale 13 NotPlanned",
            ]
        );
        assert!(r.matches(SUBSCRIBE), "stale ones stay without --prune");
        let deletes: Vec<_> = r.entries.iter().flat_map(|e| e.actions(PRUNE)).collect();
        assert_eq!(
            deletes,
            [11, 12, 13].map(|id| Action::Delete(SubscriptionId::from(id)))
        );
    }

    #[test]
    fn the_kept_one_is_the_closest_to_the_plan() {
        let plan = plan("email_replied");
        let mut disabled_match = existing(&plan, 1, "email_replied");
        disabled_match.enabled = false;
        let mut enabled_differs = existing(&plan, 2, "email_replied");
        enabled_differs.scope = Some(Scope::Personal);
        let enabled_match = existing(&plan, 3, "email_replied");
        let kept = |subs: &[Subscription]| {
            plan.reconcile(subs).entries[0]
                .subscription()
                .map(|id| id.as_str().to_owned())
        };
        assert_eq!(
            kept(&[
                disabled_match.clone(),
                enabled_differs.clone(),
                enabled_match
            ]),
            Some("3".into())
        );
        assert_eq!(
            kept(&[enabled_differs.clone(), disabled_match.clone()]),
            Some("1".into()),
            "matching beats enabled: re-enabling is one call, an update another"
        );
        let mut first = enabled_differs.clone();
        first.id = SubscriptionId::from(9);
        assert_eq!(
            kept(&[first, enabled_differs]),
            Some("9".into()),
            "first among equals"
        );
    }

    #[test]
    fn routes_match_whatever_the_token_case_or_trailing_slash() {
        let e = endpoints();
        assert_eq!(
            e.route_of(
                "HTTPS://ABC.execute-api.us-east-1.amazonaws.com:443/webhooks/linkedin/?token=a&x=1"
            ),
            Some(Category::Linkedin)
        );
        assert_eq!(e.route_of(&format!("{BASE}/webhooks/linkedin2")), None);
        assert_eq!(
            e.route_of("http://abc.execute-api.us-east-1.amazonaws.com/webhooks/email"),
            None
        );
        assert_eq!(e.route_of("not a url"), None);
    }
}
