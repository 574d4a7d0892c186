//! The PostgreSQL engine passes `hull-store`'s conformance suite (including the randomized
//! model test), each check in a fresh schema.
mod common;

hull_store::conformance_tests!(|| Box::new(common::fresh_store()) as Box<dyn hull_store::Persistence>);
