//! The reference model passes its own conformance suite.
hull_store::conformance_tests!(|| Box::new(hull_store::MemoryPersistence::new()) as Box<dyn hull_store::Persistence>);
