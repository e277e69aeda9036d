//! Runs API bodies, events and DLQ records (filled in by the runs service work).
