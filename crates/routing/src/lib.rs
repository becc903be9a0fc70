//! warren-routing: placeholder, filled by the routing issue.
