//! Scenario tests for inventory.
