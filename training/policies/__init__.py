"""Scaling policies behind one interface (``base``): tuned rules, the clairvoyant oracle, served artifacts."""
