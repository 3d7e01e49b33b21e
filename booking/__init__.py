"""Visit requests from other libraries, and the correspondence around a visit."""
