//! Any bytes through both parsers of reply-payload: neither panics, both accept or refuse the
//! same bodies for the same reason, and when both accept they read the same envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reply_payload::{Delivery, PayloadError, ReplyEvent};

fuzz_target!(|data: &[u8]| {
    let delivery = Delivery::parse(data);
    let event = ReplyEvent::parse(data);
    match (&delivery, &event) {
        (Ok(delivery), Ok(event)) => {
            let (a, b) = (&delivery.envelope, &event.envelope);
            assert_eq!(a.id, b.id, "the parsers read different ids");
            assert_eq!(a.event_type, b.event_type);
            assert_eq!(a.date, b.date);
            assert_eq!(a.user_id, b.user_id);
            assert_eq!(a.team_id, b.team_id);
            assert_eq!(a.subscription_id, b.subscription_id);
            assert!(!a.id.is_empty() && a.id.len() <= reply_payload::MAX_EVENT_ID_BYTES);
            // The request path forwards the body byte for byte.
            assert_eq!(delivery.body, data);
        }
        // Same message; for bodies that are not JSON, the same kind of problem: serde_json's
        // detail can differ (the request path checks syntax before depth, ReplyEvent meets
        // the depth limit while building values; positions of some errors differ).
        (Err(PayloadError::NotJson(_)), Err(PayloadError::NotJson(_))) => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "different errors"),
        _ => panic!(
            "the parsers disagree: Delivery::parse {:?}, ReplyEvent::parse {:?}",
            delivery.as_ref().map(|_| ()),
            event.as_ref().map(|_| ())
        ),
    }
});
