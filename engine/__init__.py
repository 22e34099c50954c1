"""alertpolicy's engine: load -> validate -> compile -> evaluate -> serve."""
