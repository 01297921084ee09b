//! Bring-up.
