//! Every sample event under `events/apigw/` (what `make invoke` feeds `cargo lambda invoke`)
//! reads, through `lambda_http`, as the request the functions expect: a POST with the local
//! test token and the raw Reply body.

use std::path::PathBuf;

use webhook_core::{RequestBody, TokenParam};
use webhook_lambda::http::{inbound, token_values};

#[test]
fn every_sample_event_reads_as_a_post_with_the_token_and_its_reply_body() {
    let events = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut read = 0;
    for entry in std::fs::read_dir(events.join("apigw")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let event = std::fs::read_to_string(&path).unwrap();
        let request = lambda_http::request::from_str(&event).unwrap();
        let reply = std::fs::read(events.join("reply").join(&name)).unwrap();
        let tokens = token_values(&request);
        let inbound = inbound(&request, &tokens);
        assert_eq!(inbound.method, "POST", "{name:?}");
        assert_eq!(
            inbound.token,
            TokenParam::One("reply-local-test-token-0001"),
            "{name:?}"
        );
        assert_eq!(inbound.body, RequestBody::Bytes(&reply), "{name:?}");
        read += 1;
    }
    assert_eq!(read, 19);
}
