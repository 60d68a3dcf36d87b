"""Raw tables in: the contract (:mod:`.schema`), validation (:mod:`.validation`), the container and loaders (:mod:`.tables`), and dates (:mod:`.calendar`)."""
