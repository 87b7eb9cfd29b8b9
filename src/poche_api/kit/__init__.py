"""Small shared helpers every domain uses."""
