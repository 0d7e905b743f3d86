//! Every generated sample event (`events/apigw/`, what `make invoke` feeds `cargo lambda invoke`,
//! and `events/sources/`, one delivery of each category as each AWS source delivers it) reads,
//! through `lambda_http` and the functions' own reading, as the request Reply made: a POST to
//! its category's route with the local test token and the raw Reply body; the functions' own
//! event parsing (`HttpEvent`) reads each exactly as `lambda_http` does.

use std::path::{Path, PathBuf};

use lambda_http::request::{LambdaRequest, RequestOrigin};
use reply_payload::{Category, Delivery};
use webhook_core::{RequestBody, Routing, TokenParam};
use webhook_lambda::http::{HttpEvent, inbound, token_values};

const TOKEN: &str = "reply-local-test-token-0001";

fn events() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// Reads `path` as the runtime hands it to a function, checks it is Reply's POST of a sample
/// body, and returns where it came from and the category of its event.
fn read(path: &Path) -> (RequestOrigin, Category) {
    let name = path.display();
    let raw = std::fs::read_to_string(path).unwrap();
    let lambda_request: LambdaRequest =
        serde_json::from_str(&raw).unwrap_or_else(|err| panic!("{name}: {err}"));
    let HttpEvent(ours) = serde_json::from_str(&raw).unwrap_or_else(|err| panic!("{name}: {err}"));
    let origin = lambda_request.request_origin();
    assert_eq!(
        format!("{:?}", ours.request_origin()),
        format!("{origin:?}"),
        "{name}: the functions' one parse reads the event as lambda_http does"
    );
    let (request, theirs): (lambda_http::Request, lambda_http::Request) =
        (ours.into(), lambda_request.into());
    assert_eq!(request.uri(), theirs.uri(), "{name}");
    assert_eq!(request.headers(), theirs.headers(), "{name}");
    assert_eq!(request.body(), theirs.body(), "{name}");
    let tokens = token_values(&request);
    let inbound = inbound(&request, &tokens);
    assert_eq!(inbound.method, "POST", "{name}");
    assert_eq!(inbound.token, TokenParam::One(TOKEN), "{name}");
    let RequestBody::Bytes(body) = inbound.body else {
        panic!("{name}: the body is not plain bytes");
    };
    let delivery = Delivery::parse(body).unwrap_or_else(|err| panic!("{name}: {err}"));
    let event_type = &delivery.envelope.event_type;
    let reply = std::fs::read(events().join("reply").join(format!("{event_type}.json"))).unwrap();
    assert_eq!(
        body,
        reply.as_slice(),
        "{name}: the body is the sample's, byte for byte"
    );
    let category = event_type.category().unwrap();
    assert!(
        request.uri().path().ends_with(category.route()),
        "{name}: {} is not the route of {category}",
        request.uri().path()
    );
    (origin, category)
}

#[test]
fn every_apigw_event_is_a_post_of_its_reply_body_from_the_http_api() {
    let files = json_files(&events().join("apigw"));
    assert_eq!(files.len(), 19);
    for path in &files {
        let (origin, _) = read(path);
        assert!(
            matches!(origin, RequestOrigin::ApiGatewayV2),
            "{}",
            path.display()
        );
    }
}

#[test]
fn every_source_event_is_read_as_its_source_delivers_it() {
    let files = json_files(&events().join("sources"));
    assert_eq!(files.len(), 6 * 3, "six sources, three categories");
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let (source, category) = file
            .trim_end_matches(".json")
            .split_once('.')
            .unwrap_or_else(|| panic!("{file}: <source>.<category>.json"));
        let (origin, read_category) = read(path);
        assert_eq!(read_category.as_str(), category, "{file}");
        let expected = match source {
            "rest-api" | "http-api-v1" => matches!(origin, RequestOrigin::ApiGatewayV1),
            "http-api-v2" | "function-url" => matches!(origin, RequestOrigin::ApiGatewayV2),
            "alb" | "alb-multi-value" => matches!(origin, RequestOrigin::Alb),
            other => panic!("{file}: unknown source {other}"),
        };
        assert!(expected, "{file}: read as {origin:?}");
    }
}
