//! Scenario tests for catalog.
