"""A test-only page that renders the real pair player include, for the browser tests."""
