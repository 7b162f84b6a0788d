//! The Porchlight plugin SDK: what policy authors use to write, test and build a sharing policy.
//!
//! This crate is an empty shell for now. The policy contract (a WIT package under `sdk/wit/`), the
//! `Policy` trait and the `export_policy!` macro arrive with the policy-engine work; see
//! `docs/ref/plugins.md` once it exists.
#![forbid(unsafe_code)]
