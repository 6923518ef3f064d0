//! Scenario tests for payments.
