//! Scenario tests for commerce.
