"""Small models and data for examples and tests."""
