//! The pipeline against a real DNS server on loopback.
