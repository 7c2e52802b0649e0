"""A claim's papers (DOMAIN.md, "Claim documents"): uploaded, told by their bytes, stored outside
the database under their SHA-256."""
