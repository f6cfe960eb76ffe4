//! `hostloc serve`: a real server on an ephemeral port and a real HTTP client.
