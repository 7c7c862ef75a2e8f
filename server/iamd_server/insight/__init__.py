"""What iamd learns from its decisions: the decision log and last-accessed data."""
