//! Every `events/apigw/*.json` (what `make invoke` feeds `cargo lambda invoke`) reads as the
//! request the functions expect: a POST with the local test token and the raw Reply body.

use std::path::PathBuf;

use webhook_core::{RequestBody, TokenParam};
use webhook_lambda::HttpApiRequest;

#[test]
fn every_sample_event_reads_as_a_post_with_the_token_and_its_reply_body() {
    let events = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut read = 0;
    for entry in std::fs::read_dir(events.join("apigw")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let event: HttpApiRequest = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let reply = std::fs::read(events.join("reply").join(&name)).unwrap();
        let tokens = event.tokens();
        let request = event.inbound(&tokens);
        assert_eq!(request.method, "POST", "{name:?}");
        assert_eq!(
            request.token,
            TokenParam::One("reply-local-test-token-0001"),
            "{name:?}"
        );
        assert_eq!(request.body, RequestBody::Plain(&reply), "{name:?}");
        read += 1;
    }
    assert_eq!(read, 19);
}
