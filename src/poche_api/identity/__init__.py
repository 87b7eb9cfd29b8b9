"""Identity and access: residents (FranceConnect), staff (OIDC), app tokens, devices, privacy."""
