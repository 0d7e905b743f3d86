use reply_payload::*;

#[test]
fn smoke() {
    let body = br#"{"event":{"id":"abc","type":"EmailReplied","TeamId":100,"user_id":"7","date":"2021-05-13T11:52:09.8212953","x":1},
      "contact_fields":{"id":12345,"email":"a@b"},"sequence_fields":{},"finish_reason":3,"zzz":[1,2]}"#;
    let d = Delivery::parse(body).unwrap();
    assert_eq!(d.envelope.event_type, EventType::EmailReplied);
    assert_eq!(d.envelope.team_id.as_ref().unwrap().to_string(), "100");
    assert_eq!(d.contact_id.as_ref().unwrap().to_string(), "12345");
    assert_eq!(d.sequence_id, None);
    let e = ReplyEvent::parse(body).unwrap();
    let back = serde_json::to_value(&e).unwrap();
    let orig: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(back, orig);
    assert_eq!(
        e.details().finish_reason,
        Some(FinishReason::FinishedNaturally)
    );
    for (b, msg) in [
        (&b""[..], "body is empty"),
        (b"[1]", "body is not a JSON object"),
        (b"{\"a\":1}", "event is missing"),
        (b"{\"event\":{\"type\":\"x\"}}", "event.id is missing"),
        (
            b"{\"event\":{\"id\":\"\",\"type\":\"x\"}}",
            "event.id must not be empty",
        ),
        (
            b"{\"event\":{\"id\":\"a\",\"type\":5}}",
            "event.type must be a string",
        ),
        (b"{\"event\":[1],\"x\":2}", "event must be a JSON object"),
        (
            b"{\"event\":{\"id\":\"a\",\"type\":\"t\"},\"event\":{}}",
            "event is given more than once",
        ),
        (
            b"{\"event\":{\"id\":\"a\",\"type\":\"t\",\"team_id\":true}}",
            "event.team_id must be a number or a string",
        ),
    ] {
        assert_eq!(
            Delivery::parse(b).unwrap_err().to_string(),
            msg,
            "{}",
            String::from_utf8_lossy(b)
        );
        assert_eq!(ReplyEvent::parse(b).unwrap_err().to_string(), msg);
    }
    println!("{}", Delivery::parse(b"{nope").unwrap_err());
}
