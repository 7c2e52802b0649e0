"""Claims from settlement data (免申即享): DOMAIN.md, "Claims from settlement data"."""
