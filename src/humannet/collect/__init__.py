"""Collection: find videos (keywords, search, channels, dataset manifests, folders), keep them in a
URL pool, and download them with metadata sidecars that `humannet curate` reads."""
