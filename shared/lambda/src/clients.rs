//! The functions' DynamoDB and SQS clients, built once per process.
//!
//! Two ways to the same clients:
//! - **From Lambda's environment** ([`from_env`], when it suffices): Lambda gives every function
//!   its credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and
//!   `AWS_REGION` as variables, which is where aws-config's standard chain would find them
//!   first. The clients' configurations are then built directly, without aws-config's provider
//!   chains (profile files, SSO, web identity, container and instance metadata): nothing is
//!   read from disk at start-up, and a credential that cannot expire needs no identity cache.
//!   `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_DYNAMODB` / `_SQS` are honoured as the SDK does
//!   (the service's variable first): that is how tests and the local stack point the
//!   functions at an emulator.
//! - **aws-config's standard chain** otherwise: no credentials or no region in the environment,
//!   or any other `AWS_*` setting this module does not read (a profile, FIPS or dual-stack
//!   endpoints, retry settings, container credentials…), so every setting the SDK knows keeps
//!   working outside Lambda. [`from_sdk_config`] builds the clients from such a configuration
//!   (the tests use it too).
//!
//! Both ways apply the same [`tune_dynamodb`] / [`tune_sqs`] settings:
//! - the timeouts of [`sdk_timeouts`];
//! - **no stalled-stream protection**: it watches the throughput of request and response
//!   bodies, which costs work on every request (a body wrapper, a throughput log, a timer) and
//!   buys nothing here: bodies are a few KB, every attempt is bounded by the 1 s attempt
//!   timeout and every call by 3 s and by the invocation's deadline, so a stalled stream already
//!   ends in a timeout;
//! - one HTTP client for both services (the SDK's hyper 1.x client over rustls, with its
//!   connection pool): from Lambda's environment with no custom endpoint in a commercial
//!   region, its trust store holds only the Amazon Trust Services roots that every AWS
//!   endpoint there chains to, instead of loading and parsing the ~140 certificates of the
//!   system's store at start-up (a plain-HTTP emulator endpoint needs no store at all, so it
//!   gets the same); with an HTTPS custom endpoint (which may present any certificate), in
//!   China, GovCloud or an isolated partition, or through the standard chain, the system's
//!   store.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, IdentityCache, Region, SharedHttpClient,
    StalledStreamProtectionConfig,
};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector};

/// The DynamoDB and SQS clients a function uses.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// The SDK timeouts of the functions' clients: a connection or one attempt that takes more
/// than a second fails and is retried, and a whole call gives up after three seconds, so a
/// hung dependency costs a few seconds, not the whole timeout. Each call is also bounded by
/// the time left before the invocation's deadline (the pipeline passes it to every call).
pub fn sdk_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .build()
}

/// The clients for this process: from Lambda's environment when it holds everything needed,
/// else through aws-config's standard chain.
pub async fn from_env() -> Clients {
    let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    if let Some(direct) = Direct::from_lookup(names, |name| std::env::var(name).ok()) {
        return direct.clients();
    }
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(sdk_timeouts())
        .http_client(http_client(TrustStore::default()))
        .load()
        .await;
    from_sdk_config(&sdk, &sdk)
}

/// The clients from aws-config configurations (one and the same in a function; tests point
/// each service at its own endpoint), with this module's settings on top.
pub fn from_sdk_config(dynamodb: &SdkConfig, sqs: &SdkConfig) -> Clients {
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            tune_dynamodb(aws_sdk_dynamodb::config::Builder::from(dynamodb)).build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            tune_sqs(aws_sdk_sqs::config::Builder::from(sqs)).build(),
        ),
    }
}

/// The settings every DynamoDB client of the functions gets (see the module's documentation).
pub fn tune_dynamodb(
    builder: aws_sdk_dynamodb::config::Builder,
) -> aws_sdk_dynamodb::config::Builder {
    builder
        .timeout_config(sdk_timeouts())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

/// The settings every SQS client of the functions gets (see the module's documentation).
pub fn tune_sqs(builder: aws_sdk_sqs::config::Builder) -> aws_sdk_sqs::config::Builder {
    builder
        .timeout_config(sdk_timeouts())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

/// Amazon Trust Services' root certificates (Amazon Root CA 1–4 and the Starfield Services
/// root that cross-signs them): the roots every AWS service endpoint's certificate chains to.
const AMAZON_ROOTS: &[u8] = include_bytes!("amazon-roots.pem");

/// The trust store for AWS's own endpoints.
fn amazon_trust_store() -> TrustStore {
    TrustStore::empty().with_pem_certificate(AMAZON_ROOTS)
}

/// The SDK's default HTTP client (hyper 1.x, rustls with aws-lc, proxies from the
/// environment, connection pooling), with `trust_store`.
fn http_client(trust_store: TrustStore) -> SharedHttpClient {
    let tls_context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .unwrap_or_default();
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = Connector::builder()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls_context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Variables the direct construction reads, and those Lambda sets that no client setting
/// depends on. Any other `AWS_*` variable sends the construction through the standard chain.
const DIRECT_VARIABLES: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_EXECUTION_ENV",
];

/// Prefixes of the variables Lambda and X-Ray set (the runtime's, not the SDK's).
const LAMBDA_PREFIXES: [&str; 2] = ["AWS_LAMBDA_", "AWS_XRAY_"];

/// What the direct construction needs, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Direct {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: String,
    dynamodb_endpoint: Option<String>,
    sqs_endpoint: Option<String>,
}

impl Direct {
    /// `Some` when the environment (its variable `names`, and `var` to read one) holds
    /// credentials and a region and no `AWS_*` setting the direct construction does not read.
    fn from_lookup(
        mut names: impl Iterator<Item = String>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Option<Direct> {
        let unknown = names.any(|name| {
            name.starts_with("AWS_")
                && !DIRECT_VARIABLES.contains(&name.as_str())
                && !LAMBDA_PREFIXES.iter().any(|p| name.starts_with(p))
        });
        if unknown {
            return None;
        }
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let endpoint = set("AWS_ENDPOINT_URL");
        Some(Direct {
            access_key_id: set("AWS_ACCESS_KEY_ID")?,
            secret_access_key: set("AWS_SECRET_ACCESS_KEY")?,
            session_token: set("AWS_SESSION_TOKEN"),
            region: set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION"))?,
            dynamodb_endpoint: set("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| endpoint.clone()),
            sqs_endpoint: set("AWS_ENDPOINT_URL_SQS").or(endpoint),
        })
    }

    /// Whether an endpoint is a custom one reached over TLS, which may present any certificate:
    /// the system's trust store then. AWS's endpoints, and plain-HTTP emulators (no TLS at
    /// all), need only Amazon's roots.
    fn custom_tls_endpoint(&self) -> bool {
        [&self.dynamodb_endpoint, &self.sqs_endpoint]
            .into_iter()
            .flatten()
            .any(|url| !url.trim_start().to_ascii_lowercase().starts_with("http://"))
    }

    /// Whether the region is in the commercial `aws` partition, whose endpoints all present
    /// Amazon Trust Services certificates. China, GovCloud and the isolated partitions keep the
    /// system's store: their endpoints' certificate authorities are not promised to be the same.
    fn commercial_region(&self) -> bool {
        !["cn-", "us-gov-", "us-iso", "eu-isoe-"]
            .iter()
            .any(|prefix| self.region.starts_with(prefix))
    }

    fn clients(self) -> Clients {
        let trust_store = if self.custom_tls_endpoint() || !self.commercial_region() {
            TrustStore::default()
        } else {
            amazon_trust_store()
        };
        let credentials = Credentials::new(
            self.access_key_id,
            self.secret_access_key,
            self.session_token,
            None,
            "Environment",
        );
        let region = Region::new(self.region);
        let http = http_client(trust_store);
        let mut dynamodb = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .identity_cache(IdentityCache::no_cache())
            .retry_config(RetryConfig::standard())
            .http_client(http.clone());
        dynamodb.set_endpoint_url(self.dynamodb_endpoint);
        let mut sqs = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .identity_cache(IdentityCache::no_cache())
            .retry_config(RetryConfig::standard())
            .http_client(http);
        sqs.set_endpoint_url(self.sqs_endpoint);
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(tune_dynamodb(dynamodb).build()),
            sqs: aws_sdk_sqs::Client::from_conf(tune_sqs(sqs).build()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(vars: &[(&str, &str)]) -> Option<Direct> {
        let owned: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Direct::from_lookup(owned.iter().map(|(k, _)| k.clone()), |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    const LAMBDA: [(&str, &str); 8] = [
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_LAMBDA_FUNCTION_NAME", "email-webhook"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_rust"),
        ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
    ];

    #[test]
    fn lambdas_environment_is_enough() {
        let d = direct(&LAMBDA).unwrap();
        assert_eq!(d.region, "eu-west-1");
        assert_eq!(d.session_token.as_deref(), Some("token"));
        assert_eq!((d.dynamodb_endpoint, d.sqs_endpoint), (None, None));
    }

    #[test]
    fn endpoints_follow_the_sdks_precedence() {
        let mut vars = LAMBDA.to_vec();
        vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"));
        vars.push(("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:6000"));
        let d = direct(&vars).unwrap();
        assert_eq!(
            d.dynamodb_endpoint.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(d.sqs_endpoint.as_deref(), Some("http://127.0.0.1:6000"));
    }

    #[test]
    fn anything_else_takes_the_standard_chain() {
        assert_eq!(direct(&LAMBDA[1..]), None, "no access key");
        assert_eq!(
            direct(&[LAMBDA[0], LAMBDA[1]]),
            None,
            "no region: the chain may find one in a profile"
        );
        for other in [
            ("AWS_PROFILE", "dev"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_MAX_ATTEMPTS", "5"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.2/creds",
            ),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ] {
            let mut vars = LAMBDA.to_vec();
            vars.push(other);
            assert_eq!(direct(&vars), None, "{}", other.0);
        }
        let mut empty_key = LAMBDA.to_vec();
        empty_key[0].1 = " ";
        assert_eq!(direct(&empty_key), None, "an empty variable is unset");
    }

    #[test]
    fn the_trust_store_is_the_systems_for_a_custom_https_endpoint_or_another_partition() {
        let with = |url: &str| {
            let mut vars = LAMBDA.to_vec();
            vars.push(("AWS_ENDPOINT_URL_DYNAMODB", url));
            direct(&vars).unwrap().custom_tls_endpoint()
        };
        assert!(!direct(&LAMBDA).unwrap().custom_tls_endpoint());
        assert!(direct(&LAMBDA).unwrap().commercial_region());
        for region in [
            "cn-north-1",
            "us-gov-west-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
        ] {
            let mut vars = LAMBDA.to_vec();
            vars[3].1 = region;
            vars[4].1 = region;
            assert!(!direct(&vars).unwrap().commercial_region(), "{region}");
        }
        assert!(!with("http://127.0.0.1:5000"));
        assert!(with("https://dynamodb.vpce.example.com"));
    }

    #[tokio::test]
    async fn the_direct_clients_are_configured_as_documented() {
        // The Amazon trust store is used without a custom endpoint: building the connector
        // parses it, and a request to a closed port fails as a dispatch failure, not a panic.
        let clients = direct(&LAMBDA).unwrap().clients();
        let config = clients.dynamodb.config();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(1)));
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(3)));
        assert!(
            config
                .stalled_stream_protection()
                .is_some_and(|s| !s.is_enabled())
        );
        let mut vars = LAMBDA.to_vec();
        vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:9"));
        let local = direct(&vars).unwrap().clients();
        let err = local
            .dynamodb
            .list_tables()
            .send()
            .await
            .expect_err("nothing listens on port 9");
        assert!(
            matches!(
                err,
                aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)
                    | aws_sdk_dynamodb::error::SdkError::TimeoutError(_)
            ),
            "{err:?}"
        );
    }

    #[test]
    fn the_amazon_roots_are_five_certificates() {
        let pem = std::str::from_utf8(AMAZON_ROOTS).unwrap();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(pem.matches("-----END CERTIFICATE-----").count(), 5);
    }
}
