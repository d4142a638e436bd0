"""Networks whose responses define content and style."""
