//! Remaining-life models (filled by the life-model work).
