//! What a request must carry, without a web framework: the Lambda layer fills this in from
//! whichever event kind AWS delivered.

/// The parts of a request the pipeline looks at.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    pub method: &'a str,
    pub token: TokenParam<'a>,
    pub body: RequestBody<'a>,
    /// The `Content-Type` header, kept in a quarantine message (any type is accepted).
    pub content_type: Option<&'a str>,
}

/// The body, decoded from base64 where the event said it was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody<'a> {
    Bytes(&'a [u8]),
    /// Marked base64-encoded, but not valid base64: the text as it came.
    NotBase64(&'a [u8]),
}

impl<'a> RequestBody<'a> {
    /// The bytes the delivery carried, whatever happened to them.
    pub fn bytes(self) -> &'a [u8] {
        match self {
            RequestBody::Bytes(bytes) | RequestBody::NotBase64(bytes) => bytes,
        }
    }
}

/// The `token` query parameter. Exactly one is required: with several, which one would be
/// "the" token is ambiguous, so the request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenParam<'a> {
    Absent,
    One(&'a str),
    Several,
}

impl<'a> TokenParam<'a> {
    /// From every value of `token` in the query string.
    pub fn from_values(values: impl IntoIterator<Item = &'a str>) -> TokenParam<'a> {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => TokenParam::Absent,
            (Some(one), None) => TokenParam::One(one),
            (Some(_), Some(_)) => TokenParam::Several,
        }
    }
}
