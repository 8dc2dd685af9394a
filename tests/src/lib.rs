//! Cross-backend conformance scenarios for Tulip. The suite lands with the conformance issue.
