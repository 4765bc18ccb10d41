"""Release review: unsafe content, identifying text on screen, licences, provenance, and the release itself."""
