"""The one versioned policy document that every decision reads."""
