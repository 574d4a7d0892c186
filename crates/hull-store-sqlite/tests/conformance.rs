//! The SQLite engine passes `hull-store`'s conformance suite, each check on a fresh file with
//! the default (fully durable) configuration.
mod common;

hull_store::conformance_tests!(|| {
    Box::new(common::TempStore::new(hull_store_sqlite::Durability::Full)) as Box<dyn hull_store::Persistence>
});
