//! `hull-sync`: the WebSocket sync protocol the official Convex clients speak
//! (`ConvexClient`, `ConvexReactClient`, `convex-svelte`, the Rust `convex` crate).
//!
//! [`protocol`] is the wire format: every message a client sends and the server answers, with a
//! strict decoder (malformed input is an error naming what is wrong, never a panic) and the
//! encodings the clients require (timestamps as base64 of little-endian u64). [`state`] is the
//! bookkeeping a socket needs to honour the protocol's version state machine: the query set
//! and identity versions every Transition must chain exactly.
//!
//! Architecture invariant: no I/O, no database and no JavaScript here; the server drives a
//! socket with these types, and the tests pin the format against the client's TypeScript
//! (`npm/node_modules/convex/src/browser/sync/protocol.ts`).
#![deny(missing_docs)]

pub mod protocol;
pub mod state;
