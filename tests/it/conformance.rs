//! Conformance of the GeoIP layer with the official MaxMind test databases.
