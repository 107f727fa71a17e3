//! Hand-written prost messages matching the `.proto` files in `proto/`
//! (no protoc, no build script). Fields the engine does not read are left
//! out where that is safe: prost skips unknown fields while decoding.
//! Public so that tests and the load tool can build any request, including
//! ones the encoders of this crate never produce.

pub mod logproto;
pub mod prometheus;
pub mod write_v2;
