//! ONVIF cameras and doorbells: a forgiving XML layer ([`xml`]), parsers for the responses
//! Porchlight uses ([`parse`]), and the mapping of event topics to motion, doorbell and tamper
//! ([`topics`]). Tested against real devices' responses in `testdata/onvif/`.

pub mod adopt;
pub mod client;
pub mod discovery;
pub mod events;
pub mod inspect;
pub mod parse;
pub mod snapshot;
pub mod topics;
pub mod watch;
pub mod xml;

#[cfg(test)]
mod corpus_tests;
