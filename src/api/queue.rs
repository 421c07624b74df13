//! Wire types of the observation queue routes.

use baton_actors::model::ObservationKind;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// `POST /v1/sessions/{id}/observations`: queue one observation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObserveRequest {
    /// What it reports; `custom` when absent.
    #[serde(default)]
    pub kind: ObservationKind,
    /// An idempotency key, such as Claude Code's `tool_use_id`: a repeated key
    /// returns the first sequence number and stores nothing new.
    #[serde(default)]
    pub key: Option<String>,
    /// What the hook saw: any JSON value, stored as posted (its text, never
    /// parsed into a value and encoded again). It must read back: JSON a
    /// value can hold, at most 100 levels of arrays and objects deep.
    #[serde(default)]
    #[schema(value_type = serde_json::Value)]
    pub payload: Box<RawValue>,
}

/// `POST /v1/sessions/{id}/queue/claim`: lease the oldest available observations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Who claims them; acks and nacks may name it to guard against a stale holder.
    #[schema(pattern = "\\S")]
    pub consumer: String,
    /// The most to take (default 10).
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 10000)]
    pub max: Option<usize>,
    /// How long the lease lasts, in milliseconds (default 60000).
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 86400000)]
    pub lease_ms: Option<u64>,
    /// How long to wait for observations when none is available, in
    /// milliseconds (default 0: answer at once; at most 600000).
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 0, maximum = 600000)]
    pub wait_ms: Option<u64>,
}

/// `POST /v1/sessions/{id}/queue/ack`: the observations are processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Their sequence numbers; all are acked or none.
    #[schema(min_items = 1)]
    #[serde(deserialize_with = "crate::api::integral::integral")]
    pub seqs: Vec<u64>,
    /// When set, only the holder of their leases may ack them.
    #[serde(default)]
    pub consumer: Option<String>,
}

/// `POST /v1/sessions/{id}/queue/nack`: give leased observations back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NackRequest {
    /// Their sequence numbers; all are returned or none.
    #[schema(min_items = 1)]
    #[serde(deserialize_with = "crate::api::integral::integral")]
    pub seqs: Vec<u64>,
    /// When set, only the holder of their leases may return them.
    #[serde(default)]
    pub consumer: Option<String>,
    /// Hold them back this many milliseconds before they may be claimed again.
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 0, maximum = 86400000)]
    pub delay_ms: u64,
}

/// `POST /v1/sessions/{id}/queue/requeue`: put dead observations back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequeueRequest {
    /// Which dead observations: `"all"`, or a list of sequence numbers.
    pub seqs: RequeueSelection,
}

/// Which dead observations to requeue. (Its schema is written by hand: the
/// derive cannot say that a list holds at least one.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequeueSelection {
    /// Every dead one: the string `"all"`.
    All(AllKeyword),
    /// These, by sequence number: at least one.
    Seqs(#[serde(deserialize_with = "crate::api::integral::integral")] Vec<u64>),
}

impl utoipa::PartialSchema for RequeueSelection {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        let format = SchemaFormat::KnownFormat(KnownFormat::Int64);
        let seq = ObjectBuilder::new().schema_type(Type::Integer).format(Some(format)).minimum(Some(0));
        OneOfBuilder::new()
            .description(Some("`\"all\"`, or the sequence numbers of dead observations (at least one)."))
            .item(utoipa::openapi::Ref::from_schema_name("AllKeyword"))
            .item(ArrayBuilder::new().items(seq).min_items(Some(1)))
            .into()
    }
}

impl ToSchema for RequeueSelection {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema as _;
        schemas.push((AllKeyword::name().into_owned(), AllKeyword::schema()));
    }
}

/// The word `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllKeyword {
    /// Every one.
    All,
}
